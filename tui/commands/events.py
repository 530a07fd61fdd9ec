"""``bouncedesk events --provider P FILE|-``: record a provider's webhook or log events, exactly once."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from ingest.mapped import DECODING, open_events
from ingest.providers import PROVIDERS
from ingest.runner import BATCH_EVENTS, Batcher, Progress, Summary, ingest_event_file, ingest_event_path
from tui.commands.ingest import finish, start


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "events",
        help="record provider events (SES, Mailgun, SendGrid, Postmark) from JSON files or stdin",
        description="Read JSON lines, JSON arrays or SNS envelopes as the provider delivers them. "
        "Malformed events are written to the rejects file in the data directory; the rest is recorded. "
        "Running it twice over the same file records nothing new.",
    )
    p.add_argument("--provider", required=True, choices=sorted(PROVIDERS), help="who produced the events")
    p.add_argument("files", nargs="+", metavar="FILE", help="event file, or '-' for standard input")
    p.add_argument("--account", metavar="NAME", help="only match addresses of this account")
    p.add_argument("--batch", type=int, default=BATCH_EVENTS, metavar="N", help="events per transaction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    missing = [f for f in args.files if f != "-" and not Path(f).is_file()]
    if missing:
        print(f"bouncedesk events: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    status, account_id = start(args, "bouncedesk events")
    if status:
        return status
    summary = Summary()
    sizes = [Path(f).stat().st_size for f in args.files if f != "-"]
    known = "-" not in args.files
    progress = Progress(summary, total=sum(sizes) if known else None, unit="bytes" if known else "events")
    # Standard input is decoded as files are (``ingest.mapped.DECODING``).
    with Batcher(summary, cause=f"bouncedesk events --provider {args.provider} {' '.join(args.files)}"[:500],
                 batch_size=args.batch) as batcher:
        for name in args.files:
            if name == "-":
                stream = io.TextIOWrapper(sys.stdin.buffer, **DECODING)
                ingest_event_file(args.provider, "stdin", stream, batcher, progress, account_id=account_id)
                continue
            try:
                open_events(name).close()
            except OSError as exc:  # unreadable (permissions): the other files still count
                message = f"{name}: cannot read: {exc.strerror or exc}"
                summary.warnings.append(message)
                summary.rejected += 1
                progress.warn(message)
                continue
            ingest_event_path(args.provider, Path(name), batcher, progress, account_id=account_id)
    return finish(summary, progress)
