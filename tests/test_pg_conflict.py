"""A real PostgreSQL deadlock between two writers, resolved by ``retry_on_conflict``.

Two transactions lock the same two rows in opposite orders; PostgreSQL
detects the deadlock (after ``deadlock_timeout``, 1 s by default) and aborts
one of them.  The aborted one must run again, whole, after the other
committed, and both callers must see success.
"""

from __future__ import annotations

import threading

import pytest

from models.db import close_database, open_database, retry_on_conflict, write_transaction
from models.schema import Setting
from tests.conftest import _reset_postgres


@pytest.mark.postgres
def test_deadlocked_writer_is_run_again_and_both_succeed(postgres_url: str) -> None:
    close_database()
    _reset_postgres(postgres_url)
    open_database(postgres_url)
    try:
        Setting.insert_many([{"key": "left", "value": "0"}, {"key": "right", "value": "0"}]).execute()
        both_hold_one = threading.Barrier(2, timeout=10)
        attempts: dict[str, int] = {"forward": 0, "backward": 0}
        outcome: dict[str, object] = {}

        def writer(name: str, first: str, second: str) -> None:
            @retry_on_conflict
            def swap() -> str:
                attempts[name] += 1
                with write_transaction():
                    Setting.update(value=name).where(Setting.key == first).execute()
                    if attempts[name] == 1:  # only the first attempts meet: a retry runs alone
                        both_hold_one.wait()
                    Setting.update(value=name).where(Setting.key == second).execute()
                return "committed"

            try:
                outcome[name] = swap()
            except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                outcome[name] = exc
            finally:
                close_database()

        threads = [threading.Thread(target=writer, args=("forward", "left", "right")),
                   threading.Thread(target=writer, args=("backward", "right", "left"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert outcome == {"forward": "committed", "backward": "committed"}
        # PostgreSQL aborted exactly one of them, which then ran once more
        assert sorted(attempts.values()) == [1, 2]
        retried = next(name for name, n in attempts.items() if n == 2)
        # the retried transaction ran last, whole: both rows carry its name
        assert {s.key: s.value for s in Setting.select()} == {"left": retried, "right": retried}
    finally:
        close_database()
