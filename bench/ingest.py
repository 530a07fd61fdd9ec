"""Ingestion speed: provider events with every rule applied, and a Maildir end to end.

(a) ``--events`` SendGrid webhook events (JSON lines, generated
    deterministically about the recipients of the benchmark database from
    ``bench/dataset.py``: deliveries, opens, soft and hard bounces, sender-blame
    blocks, delays, complaints, suppressions, unsubscribes, unknown addresses)
    go through the real path of ``bouncedesk events`` (``ingest.runner``:
    JSON reading, the provider mapping, ``models.events.record_events`` with
    linking, counting, blocking, consent and audit, one transaction per
    batch).  Reference, in the same run and the same database file: raw
    ``sqlite3`` ``executemany`` inserting the very rows we stored into a table
    of the same shape (same columns, constraints and indexes), committed in
    batches of the same size.  Target: ours >= 0.25x the reference's rate.
(b) ``--messages`` returned messages in a Maildir (made from the corpus: each
    one a corpus bounce with its recipient replaced by an address of the
    database and a fresh Message-ID) through ``bouncedesk ingest``'s path
    (read, parse, record, move new/ -> cur/).  Reported in messages per
    second, next to the parser alone over the same files (the reference).

    .venv/bin/python bench/ingest.py [--events N] [--messages N] [--batch N]
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dataset import CACHE_DIR, build  # noqa: E402
from ingest.parse import parse_bytes  # noqa: E402
from ingest.runner import BATCH_EVENTS, Batcher, Progress, Summary, ingest_event_path, ingest_paths  # noqa: E402
from models.db import close_database, open_database  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "messages"
T0 = 1_735_689_600  # 2025-01-01: after every mailing of the dataset

#: (weight, event fields) of the generated SendGrid events.
MIX: list[tuple[float, dict]] = [
    (0.33, {"event": "delivered", "response": "250 2.0.0 OK"}),
    (0.18, {"event": "open"}),
    (0.04, {"event": "click"}),
    (0.10, {"event": "bounce", "type": "bounce", "status": "4.2.2", "reason": "452 4.2.2 Mailbox full"}),
    (0.06, {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 User unknown"}),
    (0.04, {"event": "bounce", "type": "blocked", "status": "5.7.1",
            "reason": "554 5.7.1 Service unavailable; client host [192.0.2.7] blocked using zen.spamhaus.org"}),
    (0.08, {"event": "deferred", "response": "421 4.7.0 Try again later"}),
    (0.01, {"event": "spamreport"}),
    (0.02, {"event": "dropped", "reason": "Bounced Address"}),
    (0.01, {"event": "unsubscribe"}),
    (0.05, {"event": "processed"}),
]
UNKNOWN_SHARE = 0.04  # events about addresses the database does not know


def _recipients(db_path: Path, where: str = "") -> list[tuple[str, str]]:
    """(e-mail, mailing code) of the database's recipients (``where``: a condition on ``r``), in id order."""
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT r.email, m.code FROM recipient r JOIN mailing m ON m.id = r.mailing_id "
                           f"{'WHERE ' + where if where else ''} ORDER BY r.id").fetchall()
    finally:
        con.close()


def generate_events(db_path: Path, out: Path, count: int, seed: int = 11) -> int:
    """Write ``count`` SendGrid events about the database's recipients to ``out`` (JSON lines)."""
    rows = _recipients(db_path)
    rng = random.Random(seed)
    weights = [w for w, _ in MIX]
    kinds = [k for _, k in MIX]
    with out.open("w", encoding="utf-8") as fh:
        for n in range(count):
            extra = rng.choices(kinds, weights)[0]
            if rng.random() < UNKNOWN_SHARE:
                email, code = f"nobody{n}@unknown-{n % 97}.example", rows[n % len(rows)][1]
            else:
                email, code = rows[rng.randrange(len(rows))]
            fh.write(json.dumps({"email": email, "timestamp": T0 + n // 10, "sg_event_id": f"bench-{seed}-{n}",
                                 "sg_message_id": f"sg{n}", "mailing": code, **extra}) + "\n")
    return count


#: The fresh stream: what a provider sends back about recipients just sent, per recipient
#: (processed, then delivered or a bounce, opens and clicks hours later), in time order.
FRESH_PER_RECIPIENT = 2.4  # events per recipient, about (used to size the set of recipients)


def reset_fresh(db_path: Path, count: int) -> int:
    """Put the latest mailings' recipients back to "just sent", enough for ``count`` fresh-stream events.

    The state ``bouncedesk import recipients`` leaves: status sent, no delivery, open or reply yet.
    Not timed: it prepares the database the fresh stream is about.
    """
    want = int(count / FRESH_PER_RECIPIENT) + 1
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        picked, total = [], 0
        for mailing_id, n in con.execute("SELECT mailing_id, COUNT(*) FROM recipient GROUP BY mailing_id "
                                         "ORDER BY mailing_id DESC"):
            if total >= want:
                break
            picked.append(mailing_id)
            total += n
        marks = ",".join("?" * len(picked))
        con.execute("BEGIN")
        con.execute(f"UPDATE recipient SET status = 'sent', phase = 'sent', opened = 0, opened_at = NULL, "
                    f"delivered_at = NULL, severity = '', category = '', reason = '', blame = '', smtp_status = '', "
                    f"diagnostic = '', last_event_at = NULL WHERE mailing_id IN ({marks}) AND status != 'sent'", picked)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return total


def generate_fresh(db_path: Path, out: Path, count: int, seed: int = 13) -> int:
    """Up to ``count`` SendGrid events about the recipients ``reset_fresh`` left just sent, in time order.

    Per recipient: processed; then 1.5% hard bounce, 1% soft bounce (mailbox full), 0.5% dropped, else
    delivered (5% after a deferral); of the delivered 25% open (30% of them twice), 20% of openers click,
    0.1% report spam, 0.3% unsubscribe.
    """
    rows = _recipients(db_path, "r.status = 'sent' AND r.delivered_at IS NULL")
    rng = random.Random(seed)
    events: list[tuple[int, int, dict]] = []
    for i, (email, code) in enumerate(rows):
        t = T0 + i // 20  # 20 messages a second
        mine = [(t, {"event": "processed"})]
        r = rng.random()
        if r < 0.015:
            mine.append((t + 2, {"event": "bounce", "type": "bounce", "status": "5.1.1",
                                 "reason": "550 5.1.1 User unknown"}))
        elif r < 0.025:
            mine.append((t + 2, {"event": "bounce", "type": "bounce", "status": "4.2.2",
                                 "reason": "452 4.2.2 Mailbox full"}))
        elif r < 0.03:
            mine.append((t + 1, {"event": "dropped", "reason": "Bounced Address"}))
        else:
            if rng.random() < 0.05:
                mine.append((t + 2, {"event": "deferred", "response": "421 4.7.0 Try again later"}))
                t += 900
            mine.append((t + 3, {"event": "delivered", "response": "250 2.0.0 OK"}))
            if rng.random() < 0.25:
                later = t + rng.randrange(600, 86_400)
                mine.append((later, {"event": "open"}))
                if rng.random() < 0.3:
                    mine.append((later + rng.randrange(60, 7_200), {"event": "open"}))
                if rng.random() < 0.2:
                    mine.append((later + 30, {"event": "click"}))
            if rng.random() < 0.001:
                mine.append((t + 3_600, {"event": "spamreport"}))
            elif rng.random() < 0.003:
                mine.append((t + 7_200, {"event": "unsubscribe"}))
        events.extend((ts, len(events) + k, {"email": email, "mailing": code, **fields})
                      for k, (ts, fields) in enumerate(mine))
    events.sort(key=lambda e: (e[0], e[1]))
    events = events[:count]
    with out.open("w", encoding="utf-8") as fh:
        for n, (ts, _k, fields) in enumerate(events):
            fh.write(json.dumps({"timestamp": ts, "sg_event_id": f"fresh-{seed}-{n}", "sg_message_id": f"sgf{n}",
                                 **fields}) + "\n")
    return len(events)


_EVENT_COLS = ("account_id, mailing_id, recipient_id, address_id, person_id, email, kind, reason, category, "
               "severity, blame, smtp_status, reply, diagnostic, remote_mta, feedback_type, provider, "
               "provider_event_id, source, original_message_id, dedupe_key, occurred_at, recorded_at")


def reference_table(con: sqlite3.Connection) -> None:
    """``event_ref``: the event table's exact shape (columns, constraints, indexes) under another name."""
    con.execute("DROP TABLE IF EXISTS event_ref")
    (table_sql,) = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'event'").fetchone()
    con.execute(table_sql.replace('"event"', '"event_ref"', 1).replace("TABLE event ", "TABLE event_ref ", 1))
    for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event' "
                              "AND sql IS NOT NULL").fetchall():
        con.execute(sql.replace('INDEX "', 'INDEX "ref_', 1).replace(' ON "event" ', ' ON "event_ref" ', 1))


def run_reference(db_path: Path, first_id: int, batch: int) -> tuple[float, int]:
    """Insert the rows stored by our run (ids > first_id) again into ``event_ref``: seconds spent inserting."""
    con = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode = wal", "synchronous = normal", "foreign_keys = 1", "cache_size = -64000",
                   "temp_store = memory"):
        con.execute(f"PRAGMA {pragma}")
    reference_table(con)
    read = sqlite3.connect(db_path)
    cursor = read.execute(f"SELECT {_EVENT_COLS} FROM event WHERE id > ? ORDER BY id", (first_id,))
    spent = 0.0
    total = 0
    marks = ",".join("?" * len(_EVENT_COLS.split(",")))
    sql = f"INSERT INTO event_ref ({_EVENT_COLS}) VALUES ({marks})"
    while True:
        rows = cursor.fetchmany(batch)  # reading them back is not timed
        if not rows:
            break
        t = time.perf_counter()
        con.execute("BEGIN")
        con.executemany(sql, rows)
        con.execute("COMMIT")
        spent += time.perf_counter() - t
        total += len(rows)
    read.close()
    con.execute("DROP TABLE event_ref")
    con.close()
    return spent, total


def bench_events(db_path: Path, work: Path, count: int, batch: int, stream: str = "mixed") -> None:
    path = work / "sendgrid.jsonl"
    t = time.perf_counter()
    if stream == "fresh":
        fresh = reset_fresh(db_path, count)
        count = generate_fresh(db_path, path, count)
        print(f"generated {count:,} SendGrid events (fresh stream about {fresh:,} recipients just sent) in "
              f"{time.perf_counter() - t:.1f} s")
    else:
        generate_events(db_path, path, count)
        print(f"generated {count:,} SendGrid events (mixed stream) in {time.perf_counter() - t:.1f} s")
    con = sqlite3.connect(db_path)
    (first_id,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM event").fetchone()
    con.close()

    open_database(f"sqlite:///{db_path}")
    summary = Summary()
    progress = Progress(summary, stream=sys.stderr, tty=False, total=path.stat().st_size, unit="bytes",
                        log_every=30.0)
    t = time.perf_counter()
    with Batcher(summary, cause="bench/ingest.py", batch_size=batch) as batcher:
        ingest_event_path("sendgrid", path, batcher, progress)
    ours = time.perf_counter() - t
    close_database()
    r = summary.record
    print(f"ours: {summary.lines:,} events read, {r.events:,} recorded ({summary.ignored:,} untracked types), "
          f"{r.blocked:,} new blocks, {r.counted:,} soft bounces counted, {r.consent_revoked:,} consent "
          f"revocations, {r.unmatched:,} unknown addresses: {ours:.1f} s = {r.events / ours:,.0f} events/s "
          f"(batch {batch:,})")

    ref, rows = run_reference(db_path, first_id, batch)
    assert rows == r.events, (rows, r.events)
    ratio = (r.events / ours) / (rows / ref)
    print(f"reference: sqlite3 executemany of the same {rows:,} rows into a table of the same shape, "
          f"batches of {batch:,}: {ref:.1f} s = {rows / ref:,.0f} rows/s")
    print(f"ratio: {ratio:.2f}x (target >= 0.25x: {'ok' if ratio >= 0.25 else 'MISSED'})")


def _corpus_bounces() -> list[tuple[bytes, list[str]]]:
    """Corpus messages that yield events, with the recipient addresses as written in them."""
    out = []
    for path in sorted(CORPUS.glob("*.eml")):
        data = path.read_bytes()
        if data.startswith(b"From "):  # an mbox excerpt: several messages in one file
            continue
        msg = parse_bytes(data)
        addrs = [r.address for r in msg.recipients if r.address and r.address.encode() in data]
        if msg.error is None and msg.kind in ("bounce", "delay", "complaint") and addrs:
            out.append((data, addrs))
    return out


_DATE_HEADER = re.compile(rb"^Date:[^\r\n]*(\r?\n[ \t][^\r\n]*)*", re.MULTILINE | re.IGNORECASE)


def _dated(data: bytes, when: int) -> bytes:
    """The message with its own Date header (the report's time) set to ``when``, as a bounce of the
    dataset's mailings is written after them: the corpus dates (years old) would make every bounce older
    than the addresses' recorded deliveries, which the rules store without counting or blocking."""
    end = data.find(b"\n\n")
    end = len(data) if end < 0 else end
    crlf = data.find(b"\r\n\r\n")
    if 0 <= crlf < end:
        end = crlf
    head, rest = data[:end], data[end:]
    stamp = b"Date: " + email.utils.formatdate(when, usegmt=True).encode()
    new, n = _DATE_HEADER.subn(stamp, head, count=1)
    return (new if n else stamp + (b"\r\n" if b"\r\n" in head else b"\n") + head) + rest


def generate_maildir(db_path: Path, box: Path, count: int, seed: int = 5) -> int:
    """``count`` corpus bounces about the database's addresses in ``box/new`` (recipient, Message-ID and
    Date rewritten)."""
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db_path)
    emails = [e for (e,) in con.execute("SELECT email FROM address ORDER BY id")]
    con.close()
    rng = random.Random(seed)
    corpus = _corpus_bounces()
    for n in range(count):
        data, addrs = corpus[n % len(corpus)]
        for a in addrs:
            data = data.replace(a.encode(), emails[rng.randrange(len(emails))].encode())
        data = data.replace(b"Message-ID:", f"Message-ID: <bench-{seed}-{n}@bench.example>\nX-Old-Message-ID:"
                            .encode(), 1)
        data = _dated(data, T0 + n)
        (box / "new" / f"{T0 + n}.M{n}P{seed}.bench").write_bytes(data)
    return len(corpus)


def bench_maildir(db_path: Path, work: Path, count: int, batch: int) -> None:
    box = work / "Maildir"
    t = time.perf_counter()
    kinds = generate_maildir(db_path, box, count)
    print(f"generated a Maildir of {count:,} messages (from {kinds} corpus bounces) in "
          f"{time.perf_counter() - t:.1f} s")
    files = sorted((box / "new").iterdir())
    t = time.perf_counter()
    for f in files:
        parse_bytes(f.read_bytes(), source=str(f))
    parse_only = time.perf_counter() - t

    open_database(f"sqlite:///{db_path}")
    summary = Summary()
    progress = Progress(summary, stream=sys.stderr, tty=False, total=count, log_every=30.0)
    t = time.perf_counter()
    with Batcher(summary, cause="bench/ingest.py maildir", batch_size=batch) as batcher:
        ingest_paths([str(box)], batcher, progress)
    ours = time.perf_counter() - t
    close_database()
    r = summary.record
    left = sum(1 for _ in (box / "new").iterdir())
    assert summary.messages == count and left == 0, (summary.messages, count, left)
    print(f"maildir end to end: {summary.messages:,} messages, {r.events:,} events recorded, {r.duplicates:,} "
          f"duplicates, {summary.quarantined:,} quarantined, {r.blocked:,} new blocks: {ours:.1f} s = "
          f"{count / ours:,.0f} messages/s")
    print(f"reference: parsing the same files only (read + parse, no database): {count / parse_only:,.0f} "
          f"messages/s; end to end is {parse_only / ours:.2f}x of that")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="provider events (0: skip)")
    parser.add_argument("--messages", type=int, default=100_000, help="Maildir messages (0: skip)")
    parser.add_argument("--stream", choices=("mixed", "fresh"), default="mixed",
                        help="mixed: events spread over every recipient (default); fresh: the stream a provider "
                             "sends about mailings just sent (processed, delivered, opens, a few bounces)")
    parser.add_argument("--batch", type=int, default=BATCH_EVENTS, help="events per transaction")
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.events < 0 or args.messages < 0:
        parser.error("--batch must be >= 1, --events and --messages >= 0")
    t = time.perf_counter()
    build(None, args.addresses, args.recipients, verbose=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        db_path = build(work / "bench.db", args.addresses, args.recipients)
        print(f"dataset: {args.addresses:,} addresses, {args.recipients:,} recipients "
              f"(ready in {time.perf_counter() - t:.1f} s)")
        if args.events:
            bench_events(db_path, work, args.events, args.batch, args.stream)
        if args.messages:
            bench_maildir(db_path, work, args.messages, args.batch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
