"""Recording the statements the model layer runs, for tests that a job is set-based or one round trip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from models.db import database


@contextmanager
def recorded_sql() -> Iterator[list[tuple[str, tuple]]]:
    """Every statement run through the open database inside the block, as (SQL, parameters), in order.

    Statements sent with a cursor's ``executemany`` are not seen.
    """
    seen: list[tuple[str, tuple]] = []
    real = database.obj.execute_sql

    def spy(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        seen.append((sql, tuple(params or ())))
        return real(sql, params, *args, **kwargs)

    database.obj.execute_sql = spy
    try:
        yield seen
    finally:
        del database.obj.execute_sql


def statements(fn: Callable[[], Any]) -> list[tuple[str, tuple]]:
    """The statements ``fn()`` runs (``recorded_sql``)."""
    with recorded_sql() as seen:
        fn()
    return seen
