"""``bouncedesk import persons|mailings|recipients FILE.csv``: load the CRM's data."""

from __future__ import annotations

import argparse
import sys

from ingest.csvimport import ALIASES, KINDS, CsvImportError, CsvReport, import_csv, parse_map
from models import audit
from models.text import count_text
from ingest.runner import one_line
from tui.commands.ingest import connect

#: Problems printed one by one; beyond this only the count and the rejects file are named.
SHOW_PROBLEMS = 50


def register(sub: argparse._SubParsersAction) -> None:
    fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in ALIASES.items())
    p = sub.add_parser(
        "import",
        help="import persons, mailings or recipients from a CSV file",
        description="Columns are found by header name; other names are mapped with --map THEIRS=OURS. "
        f"Fields: {fields}.",
    )
    p.add_argument("kind", choices=KINDS, help="what the file holds")
    p.add_argument("file", help="the CSV file ('-' for standard input)")
    p.add_argument("--map", action="append", default=[], metavar="THEIRS=OURS",
                   help="take column THEIRS as field OURS (repeatable)")
    p.add_argument("--account", default="default", help="account for rows without an account column")
    p.add_argument("--delimiter", help="field separator (default: detected)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        mapping = parse_map(args.map, args.kind)
    except ValueError as exc:
        print(f"bouncedesk import: {exc}", file=sys.stderr)
        return 2
    if args.delimiter is not None and len(args.delimiter.encode("unicode_escape").decode()) > 2:
        print("bouncedesk import: --delimiter takes one character", file=sys.stderr)
        return 2
    delimiter = args.delimiter.encode().decode("unicode_escape") if args.delimiter else None
    status = connect(args, "bouncedesk import")
    if status:
        return status

    def progress(report: CsvReport) -> None:
        if sys.stderr.isatty():
            print(f"\r  {report.rows:,} rows", end="", file=sys.stderr, flush=True)

    if args.file != "-":  # the file itself first: a wrong name is a bad argument, no permission a failure
        try:
            with open(args.file, "rb"):
                pass
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            print(f"bouncedesk import: {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"bouncedesk import: {args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            return 1
    try:
        report = import_csv(args.kind, args.file, account=args.account, mapping=mapping, delimiter=delimiter,
                            on_batch=progress)
    except CsvImportError as exc:
        print(f"bouncedesk import: {one_line(str(args.file))}: {one_line(str(exc))}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    r = report.result
    audit.log(f"import {args.kind}", cause=f"bouncedesk import {args.kind} {args.file}",
              affected=r.created + r.updated,
              details={"file": args.file, "rows": report.rows, "created": r.created, "updated": r.updated,
                       "addresses": r.addresses, "problems": len(report.problems)})
    for line in report.problems[:SHOW_PROBLEMS]:
        print(f"warning: {one_line(line)}", file=sys.stderr)
    if len(report.problems) > SHOW_PROBLEMS:
        print(f"warning: ... {len(report.problems) - SHOW_PROBLEMS} more", file=sys.stderr)
    if report.ignored_columns:
        print(f"note: columns not imported: {one_line(', '.join(report.ignored_columns))}", file=sys.stderr)
    parts = [count_text(report.rows, "row"), f"{count_text(r.created, args.kind.removesuffix('s'))} created",
             f"{r.updated:,} updated"]
    if args.kind != "mailings":
        parts.append(count_text(r.addresses, "new address", "new addresses"))
    if args.kind == "persons":
        parts.append(count_text(r.companies, "new company", "new companies"))
        parts.append(f"consent changed for {r.consent_changed:,}")
        if r.consent_kept_revoked:
            parts.append(f"{r.consent_kept_revoked:,} kept revoked (granted in the file, revoked here)")
    parts.append(count_text(len(report.problems), "warning"))
    print("import: " + ", ".join(parts))
    if report.rejects_file:
        print(f"refused values listed in {report.rejects_file}")
    return 0
