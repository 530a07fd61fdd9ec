"""``bouncedesk parse``: show what the parser makes of returned mail, writing nothing.

For checking a mailbox before importing it, and for scripts: ``--json``
prints one object per message (issue 3's format), otherwise an aligned table.
Unreadable messages get an error line; the exit status is 0 unless the
arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import sys

from ingest.message import ParsedMessage
from ingest.parse import parse_bytes
from ingest.sources import iter_sources


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("parse", help="parse bounce/complaint mail and print what was found (writes nothing)")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument("--mailing-header", default="X-Bouncedesk-Mailing", metavar="NAME",
                   help="header in the returned original that names the mailing (default: %(default)s)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, Maildirs, mbox files, - for stdin")
    p.set_defaults(func=run)


def _messages(args: argparse.Namespace):
    for item in iter_sources(args.paths):
        if item.error is not None or item.data is None:
            yield ParsedMessage(source=item.source, kind="other", recipients=[], error=item.error or "cannot read")
        else:
            yield parse_bytes(item.data, source=item.source, mailing_header=args.mailing_header)


def run(args: argparse.Namespace) -> int:
    if not args.mailing_header.strip() or any(c in args.mailing_header for c in ": \t"):
        print("bouncedesk parse: --mailing-header must be a header name", file=sys.stderr)
        return 2
    if args.json:
        out = sys.stdout
        for msg in _messages(args):
            out.write(json.dumps(msg.to_json(), ensure_ascii=False) + "\n")
        return 0
    # plain aligned text: outside text (addresses, diagnostics) is printed literally, never as markup
    columns = ("SOURCE", "KIND", "ADDRESS", "STATUS", "REPLY", "REASON", "SEVERITY", "BLAME", "DIAGNOSTIC")
    rows: list[tuple[str, ...]] = []
    for msg in _messages(args):
        if msg.error:
            rows.append((msg.source, "error", "", "", "", "", "", "", msg.error))
        elif not msg.recipients:
            rows.append((msg.source, msg.kind, "", "", "", "", "", "", ""))
        for rec in [] if msg.error else msg.recipients:
            rows.append((msg.source, msg.kind, rec.address, rec.status, rec.reply, rec.reason, rec.severity or "",
                         rec.blame or "", rec.diagnostic or rec.feedback_type or ""))
    rows = [tuple(_clean(c) for c in row) for row in rows]
    widths = [min(60, max([len(columns[i])] + [len(r[i]) for r in rows])) for i in range(len(columns) - 1)]
    for row in [columns, *rows]:
        cells = [_fit(c, w).ljust(w) for c, w in zip(row[:-1], widths)]
        print("  ".join(cells + [_fit(row[-1], 160)]).rstrip())
    return 0


def _clean(value: str) -> str:
    """One line, no control characters (a diagnostic may hold anything)."""
    return "".join(ch if ch.isprintable() else " " for ch in value.replace("\n", " "))


def _fit(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"
