"""A generator run in a second process: the reading side of an ingest, beside the writing side.

Why: decoding what comes in (JSON event lines, MIME messages) and mapping it
to ``EventIn`` is a quarter (events) to a half (messages) of an ingest, and
the writing side spends most of the rest inside SQLite, which releases the GIL
but keeps the process's one core busy.  A thread could not overlap Python work
with Python work; a child process can: it reads the input itself and hands
over finished pieces, in chunks, while this process links and writes the batch
before.  The rules stay in one place: the child runs the same functions the
parent would (``ingest.mapped``, ``ingest.parsed``).

The protocol is deliberately small: the child sends pickled tuples on a pipe
of its own, each with a length header: ``("item", payload)`` as it goes, then
``("done",)``, or ``("oserror", errno, text)`` when the input itself failed,
or ``("failed", traceback)`` for a bug of ours.  Exactly-once and crash safety
do not change: the child only reads, and the parent still commits in order.
If the child dies, the parent's run stops with one line after the batches it
committed, and the next run records the rest.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import importlib
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import BinaryIO

#: Inputs at least this big are read by a child process (starting one costs a few tenths of a second).
CHILD_MIN_BYTES = 4 * 1024 * 1024
#: How far the child may run ahead of the parent: chunks (about a thousand events or a hundred messages
#: each) and their bytes (a chunk may carry a quarantined message of up to 25 MB); one chunk always fits.
AHEAD_CHUNKS = 32
AHEAD_BYTES = 64 * 1024 * 1024


class ReaderVanished(RuntimeError):
    """The child process reading an input ended without finishing (killed, out of memory)."""


def can_start() -> bool:
    """Whether there is an interpreter to start (an embedded Python may have none)."""
    return bool(sys.executable)


def from_child(target: str, args: list, name: str) -> Iterator[object]:
    """The payloads of ``target(*args)`` (``"module:function"``, a generator), computed in a child process.

    ``args`` must be JSON values.  ``name`` names the input in errors.  Closing
    the returned generator (or leaving it by an exception) ends the child.
    """
    # A plain interpreter (not multiprocessing, which re-runs the caller's main module): it inherits no
    # thread, lock or database connection.  ``-P`` and the parent's own ``sys.path``: it imports exactly
    # the code this process runs, never a ``models.py`` lying in the current directory.  The messages
    # travel on a pipe of their own; the child's stdout goes nowhere, so a stray print cannot garble them.
    # Its own process group: Ctrl-C interrupts this process, which ends the child.
    read_fd, write_fd = os.pipe()
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    try:
        with contextlib.suppress(AttributeError, OSError):  # Linux: a bigger pipe, fewer wake-ups
            fcntl.fcntl(read_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        child = subprocess.Popen(
            [sys.executable, "-P", "-c", _BOOT, json.dumps(sys.path), str(write_fd), target],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,), process_group=0)
    except BaseException:
        pipe.close()
        raise
    finally:
        os.close(write_fd)
    try:  # the arguments on its standard input: thousands of paths do not fit one argument (128 KiB on Linux)
        with contextlib.suppress(BrokenPipeError):  # a child that died at once is reported below, exit code and all
            with child.stdin:  # type: ignore[union-attr]
                child.stdin.write(json.dumps(args).encode())  # type: ignore[union-attr]
    except BaseException:
        child.kill()
        child.wait()
        pipe.close()
        raise
    # A thread moves the child's messages into memory as they come, so the child runs ahead while this
    # process is inside SQLite; it holds the GIL only to start each read.
    messages = _Ahead(AHEAD_CHUNKS, AHEAD_BYTES)
    stop = threading.Event()
    pump = threading.Thread(target=_pump, args=(pipe, messages, stop), name="reader-pipe", daemon=True)
    try:
        pump.start()
        while True:
            data = messages.get()
            if isinstance(data, str):  # the pipe ended, or carried something that is not a message
                if child.poll() is None:  # garbled output from a live child: it would wait on the pipe forever
                    child.kill()
                raise ReaderVanished(f"{name}: the process reading it ended unexpectedly ({data}, exit code "
                                     f"{child.wait()}); what was recorded stays, run again for the rest")
            message = pickle.loads(data)
            if message[0] == "item":
                yield message[1]
            elif message[0] == "done":
                return
            elif message[0] == "oserror":  # the input became unreadable: one line, as when it cannot be opened
                raise OSError(message[1], message[2], name)
            else:  # "failed": a bug of ours in the child: stop with its traceback
                raise RuntimeError(f"{name}: reading it failed in the reader process:\n{message[1]}")
    finally:
        stop.set()
        if child.poll() is None:
            child.kill()
        child.wait()
        if pump.ident is not None:  # started
            pump.join(5)
        pipe.close()


#: What the child runs: the parent's import path, then ``_child``.
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); from ingest.child import _child; "
         "raise SystemExit(_child(int(sys.argv[2]), sys.argv[3], json.loads(sys.stdin.buffer.read())))")
_HEADER = struct.Struct("!Q")
#: A header announcing more than this is not one of ours (a chunk is well under 100 MB).
_MESSAGE_MAX = 1 << 32


class _Ahead:
    """The chunks read from the child and not yet taken: at most ``items`` of them and ``size`` bytes (but
    always room for one, however big)."""

    def __init__(self, items: int, size: int) -> None:
        self._items, self._size = items, size
        self._queue: collections.deque[bytearray | str] = collections.deque()
        self._bytes = 0
        self._changed = threading.Condition()

    def put(self, item: bytearray | str, stop: threading.Event) -> bool:
        """Put ``item`` once there is room; False when the parent stopped listening."""
        with self._changed:
            while self._queue and (len(self._queue) >= self._items or self._bytes + len(item) > self._size):
                if stop.is_set():
                    return False
                self._changed.wait(0.5)
            if stop.is_set():
                return False
            self._queue.append(item)
            self._bytes += len(item)
            self._changed.notify_all()
            return True

    def get(self) -> bytearray | str:
        with self._changed:
            while not self._queue:
                self._changed.wait()
            item = self._queue.popleft()
            self._bytes -= len(item)
            self._changed.notify_all()
            return item


def _pump(pipe: BinaryIO, messages: _Ahead, stop: threading.Event) -> None:
    """Parent side: each message of the child, as bytes, into ``messages``; at the end, why it ended (a str)."""
    try:
        while True:
            head = _read_exactly(pipe, _HEADER.size)
            if head is None:
                end = "end of its output"
                break
            (n,) = _HEADER.unpack(head)
            data = _read_exactly(pipe, n) if n <= _MESSAGE_MAX else None
            if data is None:
                end = "a message cut short" if n <= _MESSAGE_MAX else f"a message header of {n} bytes"
                break
            if not messages.put(data, stop):
                return
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear of it, not wait forever
        end = f"reading its output failed: {type(exc).__name__}: {exc}"
    messages.put(end, stop)


def _read_exactly(pipe: BinaryIO, n: int) -> bytearray | None:
    buf = bytearray(n)
    with memoryview(buf) as view:
        got = 0
        while got < n:
            k = pipe.readinto(view[got:])
            if not k:
                return None
            got += k
    return buf


def _child(fd: int, target: str, args: list) -> int:
    """In the child: run ``target(*args)``, write each payload in order to ``fd``, then "done" (or why not).

    One thread only, writing as it goes: when the parent is gone (killed, a cron timeout), the next write
    fails and the child ends.
    """
    out = os.fdopen(fd, "wb")

    def send(message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)))
        out.write(data)
        out.flush()

    try:
        try:
            module, _, function = target.partition(":")
            for payload in getattr(importlib.import_module(module), function)(*args):
                send(("item", payload))
            send(("done",))
        except (BrokenPipeError, KeyboardInterrupt):  # the parent is gone or reports the interrupt
            raise
        except OSError as exc:  # the input itself (removed, unreadable, a disk error)
            send(("oserror", exc.errno, exc.strerror or str(exc)))
        except BaseException:  # noqa: BLE001 - everything else goes to the parent, which stops the run
            send(("failed", traceback.format_exc()))
    except (BrokenPipeError, KeyboardInterrupt):
        os._exit(1)  # no flush of a pipe nobody reads
    return 0
