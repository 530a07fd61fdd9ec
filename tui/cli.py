"""The ``bouncedesk`` command: the app, and the subcommands for scripts and cron.

Each subcommand lives in ``tui/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func``: a callable
taking the parsed arguments and returning the exit status.  Exit statuses:
0 success (warnings are counted, not fatal), 1 a fatal error such as an
unreachable database, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from models.db import DatabaseURLError, redact
from models.migrations import MigrationError, SchemaTooNewError

#: Modules under ``tui.commands`` that provide subcommands, in help order.
COMMANDS: tuple[str, ...] = (
    "summary",
    "demo",
    "sweep",
    "validate",
    "ingest",
    "events",
    "import_",
    "parse",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bouncedesk",
        description="Handle bounced e-mails, blocked addresses and spam complaints.",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database: sqlite:///path or postgresql://user@host/db "
        "(default: $BOUNCEDESK_DB or the SQLite file in the data directory)",
    )
    parser.add_argument(
        "--screen",
        choices=("mailings", "blocked", "complaints", "audit"),
        help="open the app on this screen",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tui.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        from tui.commands.summary import run_default

        func = run_default
    try:
        return int(func(args) or 0)
    except DatabaseURLError as exc:
        print(f"bouncedesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bouncedesk: interrupted", file=sys.stderr)
        return 130
    except (SchemaTooNewError, MigrationError) as exc:  # the database is fine, this program can't use it
        url = redact(args.db) if getattr(args, "db", None) else "the database"
        print(f"bouncedesk: cannot use {url}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a fatal error: say what, never a traceback with secrets
        from peewee import OperationalError

        if isinstance(exc, OperationalError):
            url = redact(args.db) if getattr(args, "db", None) else "the database"
            print(f"bouncedesk: cannot use {url}: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
