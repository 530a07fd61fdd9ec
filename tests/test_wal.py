"""Background WAL checkpoints of a bulk writer (``models.wal``)."""

from __future__ import annotations

import os
import sqlite3
import struct

from peewee import Database

from models.db import database
from models.wal import BackgroundCheckpoints


def _write(n: int, start: int = 0) -> None:
    """One transaction that changes pages all over a table (the shape of an ingest batch)."""
    with database.atomic():
        database.execute_sql("CREATE TABLE IF NOT EXISTS bulk (id INTEGER PRIMARY KEY, v TEXT)")
        cursor = database.cursor()
        cursor.executemany("INSERT INTO bulk (id, v) VALUES (?, ?)",
                           [(start + i, "x" * 200) for i in range(n)])


def _autocheckpoint() -> int:
    return database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]


def _backlog(path: str) -> tuple[int, int]:
    """(frames in the WAL, frames already copied into the database file), read without checkpointing.

    From the wal-index (``-shm``) that every connection shares: ``mxFrame``
    at byte 16 of its header and ``nBackfill`` at byte 96 (SQLite's
    ``WalIndexHdr`` and ``WalCkptInfo``, native byte order).  A
    ``PRAGMA wal_checkpoint`` would answer too, but by doing the copy.
    """
    with open(f"{path}-shm", "rb") as fh:
        head = fh.read(100)
    return struct.unpack_from("=I", head, 16)[0], struct.unpack_from("=I", head, 96)[0]


def test_checkpoints_run_in_the_background_and_close_leaves_nothing_behind(sqlite_db: Database) -> None:
    path = str(sqlite_db.database)
    assert _autocheckpoint() == 1000
    cp = BackgroundCheckpoints(database)
    assert cp.start() and cp.active
    assert _autocheckpoint() == 0  # the writer no longer copies pages back itself
    for n in range(5):
        _write(2000, start=n * 2000)
        cp.committed()
    cp.close()
    assert not cp.active and cp.failed is None
    assert _autocheckpoint() == 1000  # given back
    log, done = _backlog(path)
    assert log > 0 and log == done  # every frame of the run was copied into the database file
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM bulk").fetchone()[0] == 10_000
    con.close()


def test_the_wal_is_bounded_the_writer_waits_over_the_limit(sqlite_db: Database) -> None:
    path = str(sqlite_db.database)
    cp = BackgroundCheckpoints(database, limit=64 * 1024)
    assert cp.start()
    sizes = []
    for n in range(6):
        _write(3000, start=n * 3000)  # ~700 KB of pages per transaction, over the limit each time
        cp.committed()  # waits until everything committed is copied
        log, done = _backlog(path)
        assert log > 0 and log == done
        sizes.append(os.path.getsize(f"{path}-wal"))
    cp.close()
    # each transaction started the WAL over: it never holds more than about one transaction
    assert max(sizes) < 2 * min(sizes), sizes


def test_nothing_changes_where_there_is_no_wal_file(db: Database) -> None:
    """PostgreSQL (and an in-memory SQLite) keep their own checkpointing: start() declines."""
    cp = BackgroundCheckpoints(database)
    if type(database.obj).__name__.startswith("Postgres"):
        assert not cp.start() and not cp.active
        cp.committed()
        cp.close()
    else:
        assert cp.start()
        cp.close()
        assert _autocheckpoint() == 1000


def test_an_in_memory_database_is_left_alone() -> None:
    from models.db import close_database, open_database

    open_database("sqlite:///:memory:")
    try:
        cp = BackgroundCheckpoints(database)
        assert not cp.start()
        cp.committed()
        cp.close()
    finally:
        close_database()
