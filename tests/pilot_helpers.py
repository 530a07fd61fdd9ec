"""Pilot helpers for app tests whose flows open dialogs.

``app.workers.wait_for_complete()`` waits for *every* worker, including an
action flow (an async worker) that is waiting in ``push_screen_wait`` for the
operator to answer a dialog: the test then waits for the flow and the flow
waits for the test, and the run hangs.  ``settle`` waits only for thread
workers (the database and DNS calls), repeatedly, until none is left running
and the message queue is drained; flows waiting for an answer are left alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot


async def _finished(worker: Any) -> None:
    """Wait for one worker; its error or cancellation is the app's business (the test checks the outcome)."""
    try:
        await worker.wait()
    except Exception:  # noqa: BLE001 - WorkerFailed / WorkerCancelled
        pass


def _busy_threads(pilot: Pilot) -> list[Any]:
    return [w for w in pilot.app.workers if w._thread_worker and not w.is_finished]


async def settle(pilot: Pilot, timeout: float = 30.0) -> None:
    """Process pending messages and wait until no thread worker is running (at most ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    await pilot.pause()
    quiet_rounds = 0
    while quiet_rounds < 1:
        busy = _busy_threads(pilot)
        if busy:
            quiet_rounds = 0
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"thread workers still running after {timeout} s: {busy}")
            await asyncio.wait([asyncio.ensure_future(_finished(w)) for w in busy], timeout=remaining)
        else:
            quiet_rounds += 1
        await pilot.pause()


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Settle until ``predicate()`` holds (a dialog opened, a screen changed); fail clearly otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen stack: {pilot.app.screen_stack}")
        await settle(pilot, timeout=max(0.1, deadline - time.monotonic()))
        if not predicate():
            await pilot.pause(0.02)
