"""``bouncedesk summary``: what the database holds, in a few lines."""

from __future__ import annotations

import argparse

from models.db import chosen_url, open_database, redact
from models.stats import database_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="print a summary of the database")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url, create = chosen_url(args.db)
    open_database(url, create=create)
    print(f"database: {redact(url)}")
    rows = database_summary()
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        print(f"  {label:<{width}} {value:>10,}")
    return 0


def run_default(args: argparse.Namespace) -> int:
    """No subcommand: open the app (falls back to the summary without a terminal)."""
    try:
        from tui.app import run_app
    except ImportError:
        return run(args)
    return run_app(args)
