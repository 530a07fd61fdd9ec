"""Provider event files read and mapped to ``EventIn``, here or in a second process.

Why a second process: on the stream a provider really sends (half of it
SendGrid "processed" lines, then deliveries and opens), decoding the JSON and
mapping it is about a quarter of an ingest's time, and the writing side
spends most of the rest inside SQLite, which releases the GIL but keeps the
process's one core busy.  A thread could not overlap Python work with
Python work; a child process can: it reads the file itself and hands over
the finished events, a thousand at a time, while this process links and
writes the batch before.  The rules stay in one place: both sides run
``mapped_items``.

Only files of at least ``CHILD_MIN_BYTES`` go to a child (starting one costs
a few tenths of a second); standard input and small files are mapped here.
Exactly-once and crash safety do not change: the child only reads, and this
process still commits in order.  If the child dies, the run stops with an
error after the batches it committed, and the next run records the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import operator
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.providers import to_events as provider_events
from ingest.providers.common import ProviderEventError
from ingest.providers.reader import read_events
from models.events import EventIn, clean_event

#: Files at least this big are read and mapped by a child process.
CHILD_MIN_BYTES = 4 * 1024 * 1024
#: Items per message from the child (fewer when their rejected text passes CHUNK_CHARS); messages the
#: child may run ahead (about 32,000 events, a few MB).
CHUNK_ITEMS = 1000
CHUNK_CHARS = 4 * 1024 * 1024
AHEAD_CHUNKS = 32

#: What a field of an unexpected type, size or shape raises while one message or event is mapped.
#: Anything else is a bug of ours: it stops the run (nothing is moved or quarantined) with a traceback.
UNREADABLE = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)

_FIELDS = tuple(f.name for f in dataclasses.fields(EventIn))
_values = operator.attrgetter(*_FIELDS)


@dataclass(slots=True)
class Mapped:
    """One piece of an event file: its events (none for a type we do not track), or why it was rejected.

    ``count`` is how many pieces it stands for: a child process sends the untracked ones (half of a SendGrid
    stream is "processed") as one item per message, with no position.
    """

    position: str
    events: list[EventIn]
    error: str | None = None
    raw: str | None = None  # the rejected text, for the rejects file
    count: int = 1


class ReaderVanished(RuntimeError):
    """The child process reading an event file ended without finishing (killed, out of memory)."""


def unusable(events: list[EventIn]) -> str | None:
    """Make the events storable (``clean_event``); why the first unusable one cannot be, or None."""
    problems = [p for p in map(clean_event, events) if p]
    return problems[0] if problems else None


def mapped_items(provider: str, name: str, lines: Iterable[str], *, account_id: int | None,
                 mailing_header: str) -> Iterator[Mapped]:
    """Every piece of ``lines`` as the provider's events, each rejected piece with its reason and text."""
    for item in read_events(lines):
        position = item.position
        if item.error is not None:
            yield Mapped(position, [], item.error, item.raw)
            continue
        try:
            events = provider_events(provider, item.event, source=f"{name}:{position}", account_id=account_id,
                                     mailing_header=mailing_header)
        except ProviderEventError as exc:
            error: str | None = str(exc)
        except UNREADABLE as exc:  # a field of an unexpected type or size: this piece only
            error = f"unreadable {provider} event: {type(exc).__name__}: {str(exc)[:200]}"
        else:
            error = unusable(events)
            if error is None:
                yield Mapped(position, events)
                continue
        yield Mapped(position, [], error, item.raw if item.raw is not None else json.dumps(item.event, default=str))


#: How event text is decoded, from a file or standard input: a BOM skipped, bytes that are not UTF-8 kept
#: as lone surrogates (in an address they reject the line, ``clean_event``; elsewhere they are stored as U+FFFD).
DECODING: dict[str, str] = {"encoding": "utf-8-sig", "errors": "surrogateescape"}


def open_events(path: str | os.PathLike[str]):  # noqa: ANN201 - a text file
    """An event file as text (``DECODING``)."""
    return open(path, **DECODING)


def map_file(provider: str, path: Path, *, account_id: int | None, mailing_header: str,
             on_read: Callable[[int], None] | None = None) -> Iterator[Mapped]:
    """``mapped_items`` over the file at ``path``, computed by a child process when the file is big.

    ``on_read`` is told how many characters were read, as reading goes on.
    """
    if path.stat().st_size < CHILD_MIN_BYTES or not sys.executable:  # no interpreter to start: map here
        with open_events(path) as fh:
            yield from mapped_items(provider, str(path), counted(fh, on_read), account_id=account_id,
                                    mailing_header=mailing_header)
        return
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
            [sys.executable, "-P", "-c", _BOOT, json.dumps(sys.path), str(write_fd), provider, str(path),
             json.dumps(account_id), mailing_header],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(write_fd,), process_group=0)
    except BaseException:
        pipe.close()
        raise
    finally:
        os.close(write_fd)
    # A thread moves the child's messages into memory as they come, so the child runs ahead while this
    # process is inside SQLite; it holds the GIL only to start each read.
    messages: queue.Queue[bytearray | str] = queue.Queue(AHEAD_CHUNKS)
    stop = threading.Event()
    pump = threading.Thread(target=_pump, args=(pipe, messages, stop), name="events-reader-pipe", daemon=True)
    try:
        pump.start()
        while True:
            data = messages.get()
            if isinstance(data, str):  # the pipe ended, or carried something that is not a message
                if child.poll() is None:  # garbled output from a live child: it would wait on the pipe forever
                    child.kill()
                raise ReaderVanished(f"{path}: the process reading it ended unexpectedly ({data}, exit code "
                                     f"{child.wait()}); what was recorded stays, run again for the rest")
            message = pickle.loads(data)
            if message[0] == "done":
                return
            if message[0] == "oserror":  # the file became unreadable: one line, as when it cannot be opened
                raise OSError(message[1], message[2], str(path))
            if message[0] == "failed":  # a bug of ours in the child: stop with its traceback
                raise RuntimeError(f"{path}: reading the events failed in the reader process:\n{message[1]}")
            _what, items, read, untracked = message
            if on_read is not None:
                on_read(read)
            if untracked:
                yield Mapped("", [], count=untracked)
            for position, values, error, raw in items:
                yield Mapped(position, [EventIn(*v) for v in values], error, raw)
    finally:
        stop.set()
        if child.poll() is None:
            child.kill()
        child.wait()
        if pump.ident is not None:  # started
            pump.join(5)
        pipe.close()


#: What the child runs: the parent's import path, then ``_child``.
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); from ingest.mapped import _child; "
         "raise SystemExit(_child(int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5]), sys.argv[6]))")
_HEADER = struct.Struct("!Q")
#: A header announcing more than this is not one of ours (a chunk of 1,000 pieces is well under 100 MB).
_MESSAGE_MAX = 1 << 32


def _pump(pipe: BinaryIO, messages: "queue.Queue[bytearray | str]", stop: threading.Event) -> None:
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
            if not _put(messages, data, stop):
                return
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear of it, not wait forever
        end = f"reading its output failed: {type(exc).__name__}: {exc}"
    _put(messages, end, stop)


def _put(messages: "queue.Queue[bytearray | str]", item: bytearray | str, stop: threading.Event) -> bool:
    """Put ``item`` once there is room; False when the parent stopped listening."""
    while not stop.is_set():
        try:
            messages.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


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


def counted(lines: Iterable[str], on_read: Callable[[int], None] | None) -> Iterator[str]:
    """``lines``, telling ``on_read`` the length of each."""
    for line in lines:
        if on_read is not None:
            on_read(len(line))
        yield line


def _child(fd: int, provider: str, path: str, account_id: int | None, mailing_header: str) -> int:
    """In the child: read and map the file, write the items in order to ``fd``, then "done" (or why not).

    One thread only, writing as it goes: when the parent is gone (killed, a cron timeout), the next write
    fails and the child ends.
    """
    out = os.fdopen(fd, "wb")

    def send(message: tuple) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)))
        out.write(data)
        out.flush()

    read = 0

    def count(n: int) -> None:
        nonlocal read
        read += n

    try:
        try:
            chunk: list[tuple] = []
            sent = untracked = chars = 0
            with open_events(path) as fh:
                for m in mapped_items(provider, path, counted(fh, count), account_id=account_id,
                                      mailing_header=mailing_header):
                    if m.events or m.error is not None:
                        chunk.append((m.position, [_values(e) for e in m.events], m.error, m.raw))
                        chars += len(m.raw or "")
                    else:
                        untracked += 1
                    if len(chunk) + untracked >= CHUNK_ITEMS or chars >= CHUNK_CHARS:
                        send(("items", chunk, read - sent, untracked))
                        sent, chunk, untracked, chars = read, [], 0, 0
            send(("items", chunk, read - sent, untracked))
            send(("done",))
        except (BrokenPipeError, KeyboardInterrupt):  # the parent is gone or reports the interrupt
            raise
        except OSError as exc:  # the file itself (removed, unreadable, a disk error)
            send(("oserror", exc.errno, exc.strerror or str(exc)))
        except BaseException:  # noqa: BLE001 - everything else goes to the parent, which stops the run
            send(("failed", traceback.format_exc()))
    except (BrokenPipeError, KeyboardInterrupt):
        os._exit(1)  # no flush of a pipe nobody reads
    return 0
