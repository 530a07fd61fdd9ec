"""Reader processes (``ingest.child``) as the tests see them: which are alive, and two checks that a failing
run leaves none behind (shared by the event-file and the message tests)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ingest.child import ReaderVanished


def readers() -> list[int]:
    """The pids of this process's reader processes (``ingest.child``), zombies left out."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            stat = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if b"from ingest.child import _child" in cmdline and int(stat[1]) == os.getpid() and stat[0] != "Z":
            pids.append(int(proc.name))
    return pids


def gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def killed_reader_stops_the_run(items, name: str) -> None:  # noqa: ANN001 - a generator over a reader's output
    """Take one item, kill the reader (``kill -9``, the OOM killer): the rest is one ``ReaderVanished`` naming the
    input (regex ``name``), and no reader process is left."""
    next(items)
    (pid,) = readers()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ReaderVanished, match=name + r": the process reading it ended unexpectedly "
                                             r"\(end of its output, exit code -9\); what was recorded stays"):
        for _ in items:
            pass
    assert not readers()


def failed_batch_ends_the_reader(ingest) -> None:  # noqa: ANN001 - ingest(batcher, progress)
    """Run ``ingest`` with a writer that fails at its first batch: the reader process, there then, is gone at
    once, not when the garbage collector gets to the suspended generator (the traceback holds it while the
    error is reported)."""
    from ingest.runner import Batcher, Progress, Summary

    seen: list[list[int]] = []

    def failing(events, **_kw):  # noqa: ANN001, ANN003, ANN202
        seen.append(readers())
        raise OSError(28, "No space left on device")

    summary = Summary()
    with open(os.devnull, "w") as quiet, pytest.raises(OSError, match="No space left") as failed:
        with Batcher(summary, cause="test", batch_size=100, record=failing) as batcher:
            ingest(batcher, Progress(summary, stream=quiet, tty=False))
    assert seen and len(seen[0]) == 1  # the reader was there, mid-input, when the batch failed
    assert failed.traceback is not None and gone(seen[0][0], 5) and not readers()
