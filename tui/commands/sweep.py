"""``bouncedesk sweep``: age pending (delayed) messages into soft bounces; for cron."""

from __future__ import annotations

import argparse

from models.db import open_chosen
from models.events import sweep_pending
from models.settings import get_setting


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="turn delays older than the pending window into soft bounces (run from cron)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    open_chosen(args.db)
    result = sweep_pending()
    hours = get_setting("pending_expiry_hours")
    print(f"sweep: {result.events} pending recipients older than {hours} h counted as soft bounces, "
          f"{result.blocked} addresses blocked")
    return 0
