"""``bouncedesk validate``: check addresses by syntax and DNS.

Addresses come from the command line, a file (one a line, ``-`` for stdin)
or a stored selection/project.  Output is one line per address (or one JSON
object per line with ``--json``); a progress bar goes to stderr only when it
is a terminal.  Exit status: 1 when any address is invalid (``unknown`` is
not invalid), 2 for bad arguments, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from ingest.dns import DEFAULT_CONCURRENCY, DEFAULT_DEADLINE, DEFAULT_TIMEOUT, DNSConfigError
from models.validation import (
    NAMESERVERS_ENV,
    STATUSES,
    ValidationResult,
    ValidationRun,
    run_validation,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate e-mail addresses by syntax and DNS",
        description="Validate addresses (syntax, then MX/A/AAAA in DNS once per domain). "
        "Exit status 1 when any address is invalid; 'unknown' (DNS failure, timeout) is not invalid.",
    )
    p.add_argument("addresses", nargs="*", metavar="ADDRESS", help="addresses to check")
    p.add_argument("--file", metavar="FILE", help="read addresses from FILE, one a line ('-' for stdin)")
    p.add_argument("--selection", metavar="NAME", help="validate the selection or project NAME, store the results on its addresses "
        "and list the addresses that are not ok")
    p.add_argument("--account", metavar="NAME", help="with --selection: the account whose selection is meant "
                   "(when two accounts use the name)")
    p.add_argument("--kind", choices=("selection", "project"),
                   help="with --selection: a selection or a project (when both use the name)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "--nameserver",
        action="append",
        metavar="HOST[:PORT]",
        help=f"DNS resolver to ask (repeatable; default ${NAMESERVERS_ENV}, else the system's)",
    )
    p.add_argument("--no-dns", action="store_true", help="check syntax only")
    p.add_argument("--store", action="store_true", help="store the results on matching addresses in the database")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S", help="seconds per domain")
    p.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE, metavar="S", help="seconds for the whole run")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N", help="domains in flight")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"bouncedesk validate: {message}", file=sys.stderr)
    return 2


def read_addresses(path: str) -> tuple[list[str], list[str]]:
    """Addresses of a file (blank lines and ``#`` comments skipped) and per-line problems.

    A line that is not UTF-8 is reported (file and line) and left out; the
    rest of the file is still read.  Raises OSError when the file cannot be
    opened.
    """
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    name = "stdin" if path == "-" else path
    addresses: list[str] = []
    problems: list[str] = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip().lstrip("\ufeff")
        except UnicodeDecodeError:
            problems.append(f"{name}:{number}: not UTF-8, line skipped")
            continue
        if line and not line.startswith("#"):
            addresses.append(line)
    return addresses, problems


class ProgressBar:
    """A one-line bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = width * done // total if total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} addresses")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\r\x1b[2K")
        self.stream.flush()


def _print_result(result: ValidationResult, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(result.as_dict(), ensure_ascii=False) + "\n")
        return
    line = f"{result.status:<14} {result.address}  {result.reason}"
    if result.suggestion:
        line += f"  (did you mean {result.suggestion}?)"
    out.write(line + "\n")


def run(args: argparse.Namespace) -> int:
    sources = [bool(args.addresses), args.file is not None, args.selection is not None]
    if sum(sources) != 1:
        return _fail("give addresses, --file FILE or --selection NAME (exactly one of them)")
    for option in ("timeout", "deadline"):
        if getattr(args, option) <= 0:
            return _fail(f"--{option} must be positive")
    if args.concurrency < 1:
        return _fail("--concurrency must be at least 1")

    options = dict(
        nameservers=args.nameserver,
        dns=not args.no_dns,
        timeout=args.timeout,
        deadline=args.deadline,
        concurrency=args.concurrency,
    )
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        if args.selection is not None:
            result = _run_selection(args, options, bar)
            if isinstance(result, int):
                return result
            run_ = result
        else:
            if args.file is not None:
                try:
                    addresses, problems = read_addresses(args.file)
                except OSError as exc:
                    return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
                for problem in problems:
                    print(f"bouncedesk validate: {problem}", file=sys.stderr)
            else:
                addresses = list(args.addresses)
            if args.store:  # before the lookups: a database that cannot be used must not cost their results
                from models.db import open_chosen

                open_chosen(args.db)
            run_ = run_validation(addresses, progress=bar, **options)  # type: ignore[arg-type]
            if args.store:
                from models.validation import store_results

                stored = store_results(run_.results)
                print(f"bouncedesk validate: stored results on {stored:,} address rows", file=sys.stderr)
    except DNSConfigError as exc:
        return _fail(str(exc))
    finally:
        if bar is not None:
            bar.finish()

    for item in run_.results:
        _print_result(item, args.json, sys.stdout)
    if run_.note and not args.no_dns:
        print(f"bouncedesk validate: {run_.note}", file=sys.stderr)
    summary = ", ".join(f"{run_.counts[s]:,} {s}" for s in STATUSES if run_.counts[s])
    print(f"bouncedesk validate: {sum(run_.counts.values()):,} addresses: {summary or 'none'}", file=sys.stderr)
    return 1 if any(run_.counts[s] for s in STATUSES if s not in ("ok", "unknown")) else 0


def _run_selection(args: argparse.Namespace, options: dict[str, object], bar: ProgressBar | None) -> ValidationRun | int:
    from models.audit import log
    from models.db import open_chosen
    from models.validation import SelectionNotFound, find_selection, validate_selection

    from models.queries import account_id_named

    open_chosen(args.db)
    try:
        selection = find_selection(args.selection, account_id=account_id_named(args.account), kind=args.kind)
    except (SelectionNotFound, LookupError) as exc:
        return _fail(str(exc))
    run_ = validate_selection(selection, progress=bar, **options)
    log(
        "validate",
        cause=f"bouncedesk validate of the {selection.kind} {selection.name!r} (#{selection.id})",
        affected=sum(run_.counts.values()),
        details={"selection": selection.id, "counts": dict(run_.counts), "dns": run_.dns_used},
        account_id=selection.account_id,
    )
    print(
        f"bouncedesk validate: {selection.kind} {selection.name!r} (#{selection.id}): results stored; "
        "listing the addresses that are not ok",
        file=sys.stderr,
    )
    return run_
