"""The database failing under a running app: a one-line message, the app stays, ``r`` tries again.

A real failure, not a mock: the SQLite file is swapped for one that is not a
database (as after a botched restore or a full disk), so every new connection
of the app's worker threads fails inside SQLite.  Before ``tui.workers``, the
first failing worker ended the app with a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.pilot_helpers import settle, wait_for
from tests.seed import seed_small
from tui.app import BouncedeskApp
from tui.screens.blocked import BlockedScreen
from tui.screens.mailings import MailingsScreen


def swap_out(db_file: Path, aside: Path) -> None:
    """Move the database (and its WAL files) aside and leave a file that is not a database."""
    aside.mkdir()
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{db_file}{suffix}")
        if part.exists():
            shutil.move(part, aside / part.name)
    db_file.write_bytes(b"this is not a database " * 200)


def swap_back(db_file: Path, aside: Path) -> None:
    db_file.unlink()
    for part in aside.iterdir():
        shutil.move(part, db_file.parent / part.name)


def errors(app: BouncedeskApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def test_reads_that_fail_are_reported_and_retried(sqlite_db, sqlite_url, tmp_path) -> None:
    seeded = seed_small(sqlite_db)
    sqlite_db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    sqlite_db.close()
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    app = BouncedeskApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MailingsScreen) and app.screen.table.window,
                       "the mailings")
        swap_out(db_file, tmp_path / "aside")
        await pilot.press("r")
        # the rows and the mailing counts are read by two workers: their errors come in either order
        await wait_for(pilot, lambda: any(m.startswith("reading rows failed: ") for m in errors(app)),
                       "the rows' error message")
        assert all("not a database" in m and "\n" not in m for m in errors(app)), errors(app)
        await pilot.press("2")  # another screen: its reads fail the same way, the app stays
        await settle(pilot)
        assert isinstance(app.screen, BlockedScreen) and app.is_running
        assert len(errors(app)) >= 2
        swap_back(db_file, tmp_path / "aside")
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.screen.table.window), "the blocked rows after the retry")
        await pilot.press("1", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, MailingsScreen) and app.screen.table.window
                       and seeded["may"] in app.screen.table.stats, "the mailings again")
        assert app.return_code is None
