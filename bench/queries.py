"""Keyset pages at 1,000,000 recipients: every offered filter and sort, both directions.

Target (issue 2): a page of 100 rows under any offered filter and sort in at
most 5 ms.  Two databases, both from ``bench/dataset.py``:

* ``realistic``: 1,000,000 recipients spread over mailings of 5k-40k (the
  dataset as built); the largest mailing is paged;
* ``one mailing``: the same rows moved into ONE mailing of 1,000,000
  recipients, the worst case for the ``(mailing, status, column, id)`` indexes.

Each case is timed at the first page and at a page from the middle (a cursor
taken from the row at half the filter's length), 5 runs, median reported.
The reference is the same SQL run by the ``sqlite3`` module directly (the
statements are captured from peewee's log), so the ratio is what the query
layer costs on top of SQLite.  Search (``/``) is measured separately, per
term frequency: the route (the trigram index's candidates read by id, or the
keyset walk with the substring condition) and its cost depend on it.

Run: ``python bench/queries.py [--recipients N] [--only pages|search] [--postgres N]`` (results go to
bench/RESULTS.md by hand).  ``--postgres N`` copies N recipients of the dataset, in one mailing, into a
fresh database on the test PostgreSQL server (``tests/setup``) and measures the recipient pages and
searches there, against the same SQL replayed through psycopg; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dataset import CACHE_DIR, build  # noqa: E402
from models.db import close_database, database, open_database  # noqa: E402
from models.filters import ViewFilter  # noqa: E402
from models.queries import (  # noqa: E402
    PAGE_SIZE,
    RECIPIENT_FILTERS,
    VIEWS,
    count,
    cursor_of,
    fetch_page,
    offset_page,
)
from models.schema import Mailing, Recipient  # noqa: E402
from peewee import fn  # noqa: E402

RUNS = 5
TARGET_MS = 5.0


class SqlLog(logging.Handler):
    """Collects the (sql, params) peewee logs, to replay them through sqlite3."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple):
            sql, params = record.msg
            self.statements.append((sql, tuple(params or ())))


def one_mailing_copy(src: Path) -> Path:
    """``src`` with every recipient moved into its first mailing (cached next to it)."""
    dst = CACHE_DIR / f"one-mailing-{src.name}"
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    con = sqlite3.connect(tmp)
    # the same address may be a recipient of several mailings: the (mailing, address) unique
    # index cannot hold once they are one mailing; it serves no page query
    con.execute("DROP INDEX IF EXISTS recipient_mailing_id_address_id")
    con.execute("UPDATE recipient SET mailing_id = (SELECT min(id) FROM mailing)")
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    tmp.rename(dst)
    return dst


def median_ms(fn, runs: int = RUNS) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def middle_row(f: ViewFilter, sort: str, desc: bool) -> list:
    """A row from the middle of the filter's largest status, as a cursor for a "middle" page.

    (An OFFSET into a several-status filter sorts it whole: seconds at 1M, per case.)
    """
    parts = [replace(f, statuses=(s,)) for s in f.statuses] if len(f.statuses) > 1 else [f]
    sizes = [(count(p), p) for p in parts]
    n, biggest = max(sizes, key=lambda x: x[0])
    return offset_page(biggest, sort, desc, offset=max(0, n // 2), limit=1)


def measure(path: Path | str, filters: list[tuple[str, ViewFilter]], log: SqlLog) -> list[tuple]:
    """(label, sort, direction, position, ms, reference ms) for every case.

    ``path``: the SQLite file, or a PostgreSQL URL (the reference is then the
    same SQL replayed through psycopg directly).
    """
    if isinstance(path, str):
        import psycopg

        raw = psycopg.connect(path, autocommit=True)
    else:
        raw = sqlite3.connect(path)
    out = []
    for label, f in filters:
        for col in [c for c in VIEWS[f.view].columns if c.sortable]:
            for desc in (False, True):
                middle = middle_row(f, col.key, desc)
                for position, after in (("first", None), ("middle", cursor_of(middle[0], f, col.key)
                                                          if middle else None)):
                    fetch_page(f, col.key, desc, after=after)  # warm
                    log.statements.clear()
                    fetch_page(f, col.key, desc, after=after)
                    stmts = list(log.statements)
                    ms = median_ms(lambda: fetch_page(f, col.key, desc, after=after))

                    def replay() -> None:
                        for sql, params in stmts:
                            raw.execute(sql, params).fetchall()

                    ref = median_ms(replay)
                    out.append((label, col.key, "desc" if desc else "asc", position, ms, ref))
    raw.close()
    return out


def report(title: str, rows: list[tuple]) -> float:
    """Print the cases' summary; returns the worst recipients/complaints case (the Blocked screen is reported apart)."""
    print(f"\n{title}: {len(rows)} cases (load {os.getloadavg()[0]:.1f})")
    worst_mine = 0.0
    for group, pick in (("recipients + complaints", lambda r: not r[0].startswith("blocked")),
                        ("blocked", lambda r: r[0].startswith("blocked"))):
        part = [r for r in rows if pick(r)]
        if not part:
            continue
        worst = max(part, key=lambda r: r[4])
        mean_ratio = statistics.mean(r[4] / r[5] for r in part if r[5] > 0)
        print(f"  {group}: {len(part)} cases, median {statistics.median(r[4] for r in part):.2f} ms, "
              f"worst {worst[4]:.2f} ms ({worst[0]}, sort {worst[1]} {worst[2]}, {worst[3]} page; "
              f"raw {worst[5]:.2f} ms); mean ratio to raw {mean_ratio:.1f}x; "
              f"over {TARGET_MS:g} ms: {sum(1 for r in part if r[4] > TARGET_MS)} (raw over: "
              f"{sum(1 for r in part if r[5] > TARGET_MS)})")
        for r in sorted(part, key=lambda r: -r[4])[:8]:
            print(f"    {r[0]:<28} {r[1]:<14} {r[2]:<4} {r[3]:<6} {r[4]:7.2f} ms  raw {r[5]:6.2f} ms")
        if group.startswith("recipients"):
            worst_mine = worst[4]
    return worst_mine


#: Search terms from rare to common in the generated data (candidates of the trigram index in 1M
#: recipients), plus one shorter than a trigram.
SEARCH_TERMS = (("zzzz-no-match", "none"), ("patel.chen@pied", "rare"), ("piedsystems3", "rare, 288"),
                ("hansen", "mid, 16k"), ("anna", "mid, 30k"), ("gmail", "common, 83k"), ("an", "2 chars"))


def search_cases(mailing_id: int, blocked: bool = True) -> None:
    """Text search pages (name order) and capped counts, with the route the hybrid plan took."""
    from models import queries
    from models.search import install

    install(database.obj)  # a cached file from before the search index: built once, in place
    print("  search (page of 100 in name order: new term, again, next page; capped count of 100,000):")
    views = [("All", ViewFilter("recipients", mailing_id=mailing_id, statuses=RECIPIENT_FILTERS["all"][1])),
             ("Bounced", ViewFilter("recipients", mailing_id=mailing_id, statuses=RECIPIENT_FILTERS["bounced"][1]))]
    for label, f0 in views + ([("Blocked", ViewFilter("blocked"))] if blocked else []):
        sort = "name" if f0.view == "recipients" else "email"
        for text, kind in SEARCH_TERMS:
            f = replace(f0, search=text)
            queries._CANDIDATE_COUNTS.clear()
            t = time.perf_counter()
            fetch_page(f, sort, False)  # a new term: the route's candidate count included
            cold = (time.perf_counter() - t) * 1000
            route = "index" if queries._via_search_index(f) else "walk"
            count_route = "index" if queries._count_via_index(f, 100_000) else "walk"
            ms = median_ms(lambda: fetch_page(f, sort, False), runs=3)
            page = fetch_page(f, sort, False)
            nxt = (median_ms(lambda: fetch_page(f, sort, False, after=cursor_of(page[-1], f, sort)), runs=3)
                   if len(page) == PAGE_SIZE else float("nan"))
            cms = median_ms(lambda: count(f, cap=100_000), runs=3)
            print(f"    {label:<8} {text!r:<18} {kind:<12} {route:<5} page {cold:7.1f} / {ms:7.1f} ms  next {nxt:8.1f} ms  "
                  f"capped count {cms:8.1f} ms ({count_route})")


def postgres_copy(src: Path, rows: int) -> tuple[str, int]:
    """A fresh database on the test PostgreSQL server with the first ``rows`` recipients of ``src`` in one mailing.

    Returns (URL, mailing id); the caller drops it (``drop_postgres``).  The
    trigram indexes are built after the load, then the table is analysed and
    vacuumed, as a server's autovacuum would have done.
    """
    import uuid

    import psycopg

    from models.schema import Account
    from models.search import install

    admin = (ROOT / ".pg-url").read_text().strip()  # written by tests/setup/postgres.sh
    name = f"bd_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    open_database(url)
    mailing = Mailing.create(account=Account.create(name="bench"), code="m1", name="One mailing")
    for col in ("email", "name", "company"):
        database.execute_sql(f"DROP INDEX IF EXISTS recipient_{col}_trgm")
    cols = ["id", "mailing_id", "email", "domain", "name", "company", "status", "phase", "opened", "severity",
            "category", "reason", "blame", "smtp_status", "diagnostic", "sent_at", "last_event_at"]
    lite = sqlite3.connect(src)
    with database.connection().cursor() as cur, cur.copy(f"COPY recipient ({', '.join(cols)}) FROM STDIN") as copy:
        for row in lite.execute(f"SELECT {', '.join(cols)} FROM recipient ORDER BY id LIMIT ?", (rows,)):
            copy.write_row((row[0], mailing.id, *row[2:8], bool(row[8]), *row[9:]))
    database.connection().commit()
    lite.close()
    install(database.obj)
    database.execute_sql("VACUUM ANALYZE recipient")
    close_database()
    return url, mailing.id


def drop_postgres(url: str) -> None:
    import psycopg

    admin = (ROOT / ".pg-url").read_text().strip()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main_postgres(src: Path, rows: int, log: SqlLog, only: str | None) -> float:
    """Recipient pages and searches on PostgreSQL (one mailing of ``rows``); returns the worst page."""
    t = time.perf_counter()
    url, mailing_id = postgres_copy(src, rows)
    print(f"PostgreSQL copy of {rows:,} recipients in one mailing: {time.perf_counter() - t:.1f} s")
    worst = 0.0
    try:
        open_database(url, migrate=False)
        if only != "search":
            filters = [(f"recipients {name} ({rows:,})", ViewFilter("recipients", mailing_id=mailing_id,
                                                                    statuses=statuses))
                       for name, (_l, statuses) in RECIPIENT_FILTERS.items()]
            worst = report(f"PostgreSQL, one mailing of {rows:,}", measure(url, filters, log))
        if only != "pages":
            print(f"\nPostgreSQL, one mailing of {rows:,}:")
            search_cases(mailing_id, blocked=False)
    finally:
        close_database()
        drop_postgres(url)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("pages", "search"), help="run only the keyset pages or only the search")
    parser.add_argument("--postgres", type=int, metavar="N",
                        help="instead: N recipients of the dataset in one mailing on the test PostgreSQL server")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    src = build(addresses=args.recipients, recipients=args.recipients, verbose=True)
    log = SqlLog()
    logging.getLogger("peewee").addHandler(log)
    logging.getLogger("peewee").setLevel(logging.DEBUG)
    if args.postgres:
        worst = main_postgres(src, args.postgres, log, args.only)
        print(f"\nworst recipients keyset page: {worst:.2f} ms (target 5 ms); load {os.getloadavg()[0]:.1f}")
        return 0
    one = one_mailing_copy(src)
    print(f"datasets ready in {time.perf_counter() - t:.1f} s: {src.name}, {one.name}")
    worst = 0.0
    for title, path in (("realistic (largest mailing)", src), ("one mailing of all recipients", one)):
        open_database(f"sqlite:///{path}", migrate=False)
        biggest = (Recipient.select(Recipient.mailing).group_by(Recipient.mailing)
                   .order_by(fn.COUNT(Recipient.id).desc()).limit(1).scalar())
        size = Recipient.select().where(Recipient.mailing == biggest).count()
        account = Mailing.get_by_id(biggest).account_id
        filters = [(f"recipients {name} ({size:,})",
                    ViewFilter("recipients", mailing_id=biggest, statuses=statuses))
                   for name, (_l, statuses) in RECIPIENT_FILTERS.items()]
        filters += [("blocked, all accounts", ViewFilter("blocked")),
                    ("blocked, one account", ViewFilter("blocked", account_id=account)),
                    ("complaints, all accounts", ViewFilter("complaints"))]
        if args.only != "search":
            rows = measure(path, filters, log)
            worst = max(worst, report(title, rows))
        if args.only != "pages":
            print(f"\n{title}:")
            search_cases(biggest)
        close_database()
    print(f"\nworst recipients/complaints keyset page: {worst:.2f} ms (target 5 ms); load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
