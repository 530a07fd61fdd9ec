"""Running model functions off the UI thread.

Peewee keeps one connection per thread.  Textual thread workers may run on
short-lived or pooled threads, so every call made through ``db_call`` closes
its thread's connection afterwards: no connection outlives its work, and a
SQLite writer never holds a lock while the UI waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from models.db import database

T = TypeVar("T")


def db_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` (a models function) and close this thread's connection afterwards."""
    try:
        return fn(*args, **kwargs)
    finally:
        if database.obj is not None and not database.is_closed():
            database.close()


async def in_thread(node: Any, fn: Callable[..., T], *args: Any, group: str = "db", **kwargs: Any) -> T:
    """Run ``db_call(fn, ...)`` in a Textual thread worker of ``node`` and await its result.

    Used from async flows (a dialog sequence) that need one database answer
    before they can go on; errors propagate to the caller.
    """
    from textual.worker import WorkerFailed

    worker = node.run_worker(lambda: db_call(fn, *args, **kwargs), thread=True, group=group, exit_on_error=False)
    try:
        return await worker.wait()
    except WorkerFailed as failed:
        raise failed.error from None
