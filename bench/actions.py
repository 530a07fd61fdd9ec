"""Bulk actions at 1,000,000 addresses / 1,000,000 recipients (SQLite).

Targets (issue 2):
* clearing the bounce flag on ~100,000 addresses: at most 1 s;
* adding ~100,000 addresses to a new selection: at most 1 s;
* exporting 1,000,000 rows to CSV: at most 3x the time the ``sqlite3``
  command line (``.mode csv``) takes to export the same rows, measured in
  the same run.

The ~100,000 addresses are "every blocked address" (the blocked view without
an id list, exactly how the TUI's ``*`` targets them): the dataset blocks 10%
of its addresses.  Each timed action is undone (also timed) and repeated, so
every run starts from the same state; the best and the median are printed.

Usage: ``python bench/actions.py [--addresses N] [--recipients N] [--runs R]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dataset import CACHE_DIR, build  # noqa: E402
from models.actions import add_to_selection, clear_bounce_flag, count_target, export_rows, undo  # noqa: E402
from models.db import close_database, open_database  # noqa: E402
from models.export import export_query  # noqa: E402
from models.filters import Target, ViewFilter  # noqa: E402
from models.schema import AuditLog  # noqa: E402


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def last_audit_id() -> int:
    return AuditLog.select(AuditLog.id).order_by(AuditLog.id.desc()).scalar()


def summary(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if shutil.which("sqlite3") is None:
        print("bench/actions.py: the sqlite3 command line is needed for the reference (apt-get install sqlite3)",
              file=sys.stderr)
        return 1

    t_build, _ = timed(lambda: build(None, args.addresses, args.recipients, verbose=True))
    print(f"dataset: {args.addresses:,} addresses, {args.recipients:,} recipients (ready in {t_build:.1f} s)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="bench-actions-") as tmp:
        work = Path(tmp)
        db_path = build(work / "bench.db", args.addresses, args.recipients)
        open_database(f"sqlite:///{db_path}")
        try:
            failures = run(work, db_path, args.runs)
        finally:
            close_database()
    return 1 if failures else 0


def run(work: Path, db_path: Path, runs: int) -> int:
    blocked = Target(ViewFilter("blocked"))
    n_blocked = count_target(blocked)
    failures = 0

    sel_times, sel_undo = [], []
    for i in range(runs):
        t, (_sid, n) = timed(lambda i=i: add_to_selection(blocked, name=f"bench {i}", kind="selection"))
        sel_times.append(t)
        sel_undo.append(timed(lambda: undo(last_audit_id()))[0])
    ok = min(sel_times) <= 1.0
    failures += not ok
    print(f"add {n:,} addresses to a new selection: {summary(sel_times)} (target <= 1 s: {'ok' if ok else 'MISSED'});"
          f" undo {summary(sel_undo)}")

    clear_times, clear_undo = [], []
    for _ in range(runs):
        t, n = timed(lambda: clear_bounce_flag(blocked))
        clear_times.append(t)
        clear_undo.append(timed(lambda: undo(last_audit_id()))[0])
    assert n == n_blocked, (n, n_blocked)
    ok = min(clear_times) <= 1.0
    failures += not ok
    print(f"clear the bounce flag on {n:,} addresses: {summary(clear_times)} (target <= 1 s: {'ok' if ok else 'MISSED'});"
          f" undo {summary(clear_undo)}")

    everything = Target(ViewFilter("recipients"))
    _headers, plain, _bools = export_query(everything, spreadsheet=False)
    sql, params = plain.sql()
    assert not params, params  # the reference runs the same SQL text
    ours, cli = [], []
    rows = 0
    for _ in range(runs):
        out = work / "ours.csv"
        t, rows = timed(lambda: export_rows(everything, out, "csv"))
        ours.append(t)
        out.unlink()
        ref = work / "ref.csv"
        script = f".headers on\n.mode csv\n.output {ref}\n{sql};\n"
        t, _ = timed(lambda: subprocess.run(["sqlite3", "-batch", str(db_path)], input=script, text=True,
                                            check=True))
        cli.append(t)
        ref_lines = sum(1 for _ in open(ref, "rb")) - 1
        ref.unlink()
    ratio = min(ours) / min(cli)
    ok = ratio <= 3.0
    failures += not ok
    print(f"export {rows:,} rows to CSV: {summary(ours)}; sqlite3 CLI .mode csv: {summary(cli)} "
          f"({ref_lines:,} lines); ratio best/best {ratio:.2f}x, median/median "
          f"{statistics.median(ours) / statistics.median(cli):.2f}x (target <= 3x: {'ok' if ok else 'MISSED'})")
    return failures


if __name__ == "__main__":
    raise SystemExit(main())
