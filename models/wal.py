"""Background WAL checkpoints for a bulk writer (SQLite).

Why: in WAL mode a commit appends every page it changed to the ``-wal``
file, and by default the committing connection then copies them back into
the database file (a checkpoint) as soon as the WAL holds 1,000 pages.  An
ingest batch changes entries of a dozen recipient indexes spread over the
whole file: at a million recipients, 40,000+ pages per 5,000 events, whose
checkpoint (random writes, then an fsync) took as long as the batch itself,
with the writer waiting for it.

A bulk writer (``ingest.runner.Batcher``) therefore turns its own automatic
checkpoints off and a second connection, in a background thread, runs
``PASSIVE`` checkpoints while the writer prepares and writes the next batch:
the copy overlaps the writer's work (on another core, and in the kernel's
I/O), and when the copy falls behind, a page changed by several batches
since the last checkpoint is copied once.  A ``PASSIVE`` checkpoint never blocks the writer or a reader;
it copies only committed frames no reader still needs, and a crash in the
middle of one is repaired from the WAL by SQLite itself, so nothing about
crash safety changes.

The WAL stays bounded: once it is larger than its limit (the database
file's size, at most 1 GiB, at least 64 MiB) the writer waits after its
commit until a checkpoint has copied everything, so its next transaction
starts the WAL over from the beginning (and ``journal_size_limit = 0`` cuts
the file back then, so its size keeps telling what it holds).  Without the
wait it would never start over: the writer begins its next batch while the
checkpoint of the last one is still running, and SQLite restarts a WAL only
for a writer that began after everything in it was copied.  Closing waits for
the last checkpoint, so the time of a run includes the copy of its own
writes and leaves no backlog to whoever writes next.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from peewee import Database, SqliteDatabase

log = logging.getLogger(__name__)

#: Largest WAL (bytes) the writer lets grow (and never more than the database file, nor less than WAL_FLOOR).
WAL_LIMIT = 1 << 30
WAL_FLOOR = 64 << 20


class BackgroundCheckpoints:
    """Checkpoints of one writer's WAL, run by a background thread (SQLite file databases only).

    The writer calls ``committed()`` after each commit and ``close()`` at the
    end, from the thread that writes (the automatic checkpoints are a setting
    of that thread's connection).
    """

    def __init__(self, db: Database, *, limit: int = WAL_LIMIT) -> None:
        self._db = db
        self._limit = limit
        self._path: str | None = None
        self._previous = (1000, -1)  # the writer's wal_autocheckpoint and journal_size_limit
        self._cond = threading.Condition()
        self._wanted = 0  # commits announced by the writer
        self._done = 0  # commits covered by a finished checkpoint
        self._stop = False
        self._thread: threading.Thread | None = None
        self.failed: str | None = None  # why checkpoints went back to the writer

    @property
    def active(self) -> bool:
        return self._thread is not None

    def start(self) -> bool:
        """Take over the writer's checkpoints; False (and nothing changed) when not a SQLite file."""
        obj = getattr(self._db, "obj", self._db)
        if self._thread is not None or not isinstance(obj, SqliteDatabase):
            return self._thread is not None
        path = str(obj.database)
        if path == ":memory:" or path.startswith("file:") or not os.path.exists(path):
            return False
        (mode,) = self._db.execute_sql("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            return False
        self._previous = (self._db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0],
                          self._db.execute_sql("PRAGMA journal_size_limit").fetchone()[0])
        self._db.execute_sql("PRAGMA wal_autocheckpoint = 0")
        # the WAL file is cut back to its content when it starts over, so its size tells how much it holds
        self._db.execute_sql("PRAGMA journal_size_limit = 0")
        self._path = path
        self._limit = min(self._limit, max(WAL_FLOOR, os.path.getsize(path)))
        self._thread = threading.Thread(target=self._run, name="bouncedesk-wal-checkpoint", daemon=True)
        self._thread.start()
        return True

    def committed(self) -> None:
        """The writer committed: checkpoint in the background; wait when the WAL is over the limit."""
        if self._thread is None:
            return
        if self.failed:
            self._give_back()
            return
        try:
            size = os.path.getsize(f"{self._path}-wal")
        except OSError:
            size = 0
        with self._cond:
            self._wanted += 1
            self._cond.notify_all()
        if size > self._limit:
            self.wait()

    def wait(self) -> None:
        """Until a checkpoint started after the writer's last commit has finished."""
        with self._cond:
            while self._done < self._wanted and self._thread is not None and not self.failed:
                self._cond.wait()

    def close(self) -> None:
        """Finish the backlog, stop the thread and give the writer its automatic checkpoints back."""
        if self._thread is None:
            return
        self.wait()
        self._give_back()

    def _give_back(self) -> None:
        """Stop the thread; the writer's connection checkpoints automatically again."""
        assert self._thread is not None
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        self._thread = None
        self._db.execute_sql(f"PRAGMA wal_autocheckpoint = {int(self._previous[0])}")
        self._db.execute_sql(f"PRAGMA journal_size_limit = {int(self._previous[1])}")
        if self.failed:  # the WAL may have grown while nobody copied it: copy it now
            self._db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self) -> None:
        assert self._path is not None
        try:
            con = sqlite3.connect(self._path, timeout=30)
        except sqlite3.Error as exc:
            self._fail(exc)
            return
        try:
            while True:
                with self._cond:
                    while self._done == self._wanted and not self._stop:
                        self._cond.wait()
                    if self._done == self._wanted:
                        return
                    target = self._wanted
                began = time.perf_counter()
                _busy, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                log.debug("checkpoint: %s of %s WAL frames copied in %.2f s", copied, frames,
                          time.perf_counter() - began)
                with self._cond:
                    self._done = target
                    self._cond.notify_all()
        except sqlite3.Error as exc:
            self._fail(exc)
        finally:
            con.close()

    def _fail(self, exc: BaseException) -> None:
        log.warning("background WAL checkpoints stopped (the writer checkpoints at the end): %s", exc)
        with self._cond:
            self.failed = str(exc)
            self._cond.notify_all()
