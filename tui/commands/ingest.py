"""``bouncedesk ingest PATH|imap://...``: read returned mail and record its events, exactly once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.runner import BATCH_EVENTS, Batcher, Progress, Summary, count_messages, ingest_paths
from peewee import OperationalError

from models.db import DatabaseURLError, default_url, open_database, redact
from models.queries import account_id_named

IMAP_SCHEMES = ("imap://", "imaps://")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="record bounces and complaints from files, Maildir, mbox, stdin or IMAP",
        description="Read returned messages (.eml files, directories, Maildir, mbox, '-' for stdin, or "
        "imap[s]://user@host[:port]/FOLDER) and record their events. Running it twice over the same "
        "input records nothing new. The IMAP password comes from $BOUNCEDESK_IMAP_PASSWORD or a prompt.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, directory, Maildir, mbox, '-' or IMAP URL")
    p.add_argument("--keep", action="store_true", help="leave Maildir messages in new/ (default: move to cur/)")
    p.add_argument("--account", metavar="NAME", help="only match addresses of this account")
    p.add_argument("--batch", type=int, default=BATCH_EVENTS, metavar="N", help="events per transaction")
    p.add_argument("--processed-folder", default="bouncedesk/processed", metavar="FOLDER",
                   help="IMAP folder for processed messages")
    p.add_argument("--quarantine-folder", default="bouncedesk/quarantine", metavar="FOLDER",
                   help="IMAP folder for unreadable messages")
    p.add_argument("--insecure", action="store_true",
                   help="IMAP without TLS (only for tests against a server on the loopback interface)")
    p.set_defaults(func=run)


def connect(args: argparse.Namespace, prog: str) -> int:
    """Open (and migrate) the database; 0 on success, else the exit status after a one-line error.

    An unreachable server, a file that cannot be created or a database of a
    newer schema is fatal (1); a URL that cannot be understood is a bad
    argument (2).
    """
    url = args.db or default_url()
    try:
        open_database(url)
    except DatabaseURLError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, OSError, RuntimeError) as exc:
        print(f"{prog}: cannot use the database {redact(url)}: {str(exc).strip().splitlines()[0]}",
              file=sys.stderr)
        return 1
    return 0


def start(args: argparse.Namespace, prog: str) -> tuple[int, int | None]:
    """What ``ingest`` and ``events`` do before reading: check ``--batch``, open the database, find ``--account``.

    Returns (exit status, account id); a non-zero status has been explained
    on stderr in one line.
    """
    if args.batch < 1:
        print(f"{prog}: --batch must be at least 1", file=sys.stderr)
        return 2, None
    status = connect(args, prog)
    if status:
        return status, None
    try:
        return 0, account_id_named(args.account)
    except LookupError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2, None


def finish(summary: Summary, progress: Progress) -> int:
    """Print the summary (stdout) and return the exit status: 0, warnings are counted."""
    progress.finish()
    for line in summary.report():
        print(line)
    return 0


def run(args: argparse.Namespace) -> int:
    imap_urls = [p for p in args.paths if p.lower().startswith(IMAP_SCHEMES)]
    paths = [p for p in args.paths if p not in imap_urls]
    missing = [p for p in paths if p != "-" and not Path(p).exists()]
    if missing:
        print(f"bouncedesk ingest: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    if imap_urls:
        from ingest.imap import ImapURLError, parse_url

        try:
            targets = [parse_url(u, insecure=args.insecure) for u in imap_urls]
        except ImapURLError as exc:
            print(f"bouncedesk ingest: {exc}", file=sys.stderr)
            return 2
    status, account_id = start(args, "bouncedesk ingest")
    if status:
        return status
    summary = Summary()
    progress = Progress(summary, total=count_messages(paths) if paths and not imap_urls else None)
    with Batcher(summary, cause=f"bouncedesk ingest {' '.join(args.paths)}"[:500], batch_size=args.batch) as batcher:
        if paths:
            ingest_paths(paths, batcher, progress, account_id=account_id, keep=args.keep)
        if imap_urls:
            from ingest.imap import ImapError, ingest_imap

            for target in targets:
                try:
                    ingest_imap(target, batcher, progress, account_id=account_id,
                                processed=args.processed_folder, quarantine=args.quarantine_folder)
                except ImapError as exc:
                    batcher.discard()
                    progress.finish()
                    print(f"bouncedesk ingest: {exc}", file=sys.stderr)
                    return 1
    return finish(summary, progress)
