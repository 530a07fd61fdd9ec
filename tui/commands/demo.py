"""``bouncedesk demo``: create the demo database.

Bounce texts are taken from the shared corpus of real returned mail by
running the parser over it, so the demo shows what real diagnostics look
like; without a corpus the built-in templates are used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.db import default_url, open_database, redact
from models.text import count_text
from models.demo import BUILTIN_TEMPLATES, BounceTemplate, build_demo
from models.stats import holds_data

#: The team's corpus, beside the project checkout.
DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "messages"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="create a database with realistic demo data")
    p.add_argument("--size", type=int, default=3000, metavar="N", help="number of persons (default 3000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (the same seed gives the same data)")
    p.add_argument("--corpus", type=Path, default=None,
                   help="folder of returned messages to take bounce texts from (default: the shared corpus)")
    p.add_argument("--if-missing", action="store_true", help="do nothing when the database already has data")
    p.set_defaults(func=run)


def corpus_templates(folder: Path) -> list[BounceTemplate]:
    """Bounce templates from every parseable message in ``folder``."""
    from ingest.parse import parse_bytes

    templates: list[BounceTemplate] = []
    seen: set[tuple[str, str, str]] = set()
    for path in sorted(folder.glob("*.eml")):
        if ".cr" in path.suffixes or ".crlf" in path.suffixes:
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:  # one unreadable file costs its templates, not the demo
            print(f"bouncedesk demo: {path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            continue
        msg = parse_bytes(data, source=str(path))
        if msg.error or msg.kind not in ("bounce", "delay", "complaint"):
            continue
        for r in msg.recipients[:1]:
            key = (msg.kind, r.reason, r.diagnostic)
            if not r.reason or key in seen:
                continue
            seen.add(key)
            diagnostic = r.diagnostic.replace(r.address, "{email}") if r.address else r.diagnostic
            templates.append(BounceTemplate(kind=msg.kind, reason=r.reason, smtp_status=r.status, reply=r.reply,
                                            diagnostic=diagnostic, remote_mta=r.remote_mta,
                                            feedback_type=r.feedback_type, gave_up=r.gave_up))
    return templates


def run(args: argparse.Namespace) -> int:
    if args.size < 10:
        print("bouncedesk demo: --size must be at least 10", file=sys.stderr)
        return 2
    url = args.db or default_url()
    open_database(url)
    if holds_data():
        if args.if_missing:
            return 0
        print(f"bouncedesk demo: {redact(url)} already holds data; use an empty database", file=sys.stderr)
        return 2
    folder = args.corpus or DEFAULT_CORPUS
    templates: list[BounceTemplate] = []
    if folder.is_dir():
        templates = corpus_templates(folder)
    if args.corpus is not None and not templates:
        print(f"bouncedesk demo: no bounce messages found in {folder}", file=sys.stderr)
        return 2
    source = f"{len(templates)} bounce texts from {folder}" if templates else "built-in bounce texts"
    print(f"creating demo data in {redact(url)} ({source})", file=sys.stderr)
    result = build_demo(persons=args.size, seed=args.seed, templates=templates or BUILTIN_TEMPLATES,
                        progress=lambda msg: print(f"  {msg}", file=sys.stderr))
    print(f"demo ready: {count_text(result.events, 'event')}, "
          f"{count_text(result.blocked, 'address', 'addresses')} blocked ({result.global_blocks:,} globally), "
          f"{count_text(result.consent_revoked, 'consent')} revoked", file=sys.stderr)
    return 0
