"""Where returned messages come from: files, directories, Maildirs, mbox files, stdin.

Each message is yielded as a ``SourceItem`` with a source label that points a
person back to it (``path`` or ``path:n`` for the n-th message of an mbox).
An unreadable input yields an item with ``error`` set and the walk goes on,
so one bad file never hides the others.  Oversized messages are not read into
memory: they come back with an error naming the limit.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.mime import split_mbox
from ingest.parse import MAX_MESSAGE_BYTES

_MBOX_FROM = b"From "
__all__ = ["SourceItem", "is_mbox", "iter_sources", "split_mbox"]


@dataclass(slots=True)
class SourceItem:
    """One message (or one failure to read one)."""

    source: str
    data: bytes | None
    error: str | None
    path: Path | None
    maildir_new: bool = False  # found in a Maildir's new/ (the importer may move it to cur/)


def _too_big(source: str, path: Path | None, size: int) -> SourceItem:
    return SourceItem(source, None, f"message is {size:,} bytes, over the {MAX_MESSAGE_BYTES // (1024 * 1024)} MB limit; not read", path)


def is_mbox(head: bytes) -> bool:
    """An mbox file starts with a ``From `` separator line."""
    return head.startswith(_MBOX_FROM)


def _mbox_items(data: bytes, label: str, path: Path | None) -> Iterator[SourceItem]:
    """The messages of an mbox, ``label:n`` for the n-th (an empty one said, not skipped: the numbers hold)."""
    for n, msg in enumerate(split_mbox(data), 1):
        if not msg:
            yield SourceItem(f"{label}:{n}", None, "empty message (nothing after its From line): skipped", path)
        elif len(msg) > MAX_MESSAGE_BYTES:
            yield _too_big(f"{label}:{n}", path, len(msg))
        else:
            yield SourceItem(f"{label}:{n}", msg, None, path)


def _read_file(path: Path, label: str, maildir_new: bool = False) -> Iterator[SourceItem]:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(5)
            if is_mbox(head):
                data = head + fh.read()
                yield from _mbox_items(data, label, path)
                return
            if size > MAX_MESSAGE_BYTES:
                yield _too_big(label, path, size)
                return
            data = head + fh.read()
    except OSError as exc:
        yield SourceItem(label, None, f"cannot read: {exc.strerror or exc}", path)
        return
    yield SourceItem(label, data, None, path, maildir_new)


def message_files(root: Path, unreadable: list[OSError] | None = None) -> Iterator[Path]:
    """The files under directory ``root`` a run reads, in order: dot-files and a Maildir's ``tmp/``
    (messages still being written) left out.  The one walk of a directory (the reader, the
    progress bar's total and the reader process's size check all count the same files)."""
    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable.append if unreadable is not None else None):
        dirnames.sort()
        here = Path(dirpath)
        if here.name == "tmp" and (here.parent / "cur").is_dir():
            continue
        for name in sorted(filenames):
            if not name.startswith("."):
                yield here / name


def _walk_dir(root: Path) -> Iterator[SourceItem]:
    unreadable: list[OSError] = []  # a subdirectory that cannot be listed is reported, not skipped silently
    entries = list(message_files(root, unreadable))
    for exc in unreadable:
        where = str(exc.filename) if exc.filename else str(root)
        yield SourceItem(where, None, f"cannot read directory: {exc.strerror or exc}", None)
    for path in entries:
        in_new = path.parent.name == "new" and (path.parent.parent / "cur").is_dir()
        if not _regular(path):  # a FIFO would block the read for ever (a cron ingest piling up), a device too
            yield SourceItem(str(path), None, "not a regular file (a FIFO, socket or device): skipped", path)
            continue
        yield from _read_file(path, str(path), in_new)


def _regular(path: Path) -> bool:
    """False for a FIFO, socket or device found in a directory; True for a file or what cannot be stat'ed
    (the read then reports why)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True


def iter_sources(paths: list[str]) -> Iterator[SourceItem]:
    """Every message under ``paths``: files, directories (recursive, Maildir
    ``cur/`` and ``new/``), mbox files and ``-`` for standard input."""
    for raw in paths:
        if raw == "-":
            data = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
            if is_mbox(data[:5]):
                data += sys.stdin.buffer.read()  # all of it, as for an mbox file: only its messages are bounded
                yield from _mbox_items(data, "-", None)
            elif len(data) > MAX_MESSAGE_BYTES:
                yield _too_big("-", None, len(data))
            else:
                yield SourceItem("-", data, None, None)
            continue
        path = Path(raw)
        if path.is_dir():
            yield from _walk_dir(path)
        elif path.exists():
            yield from _read_file(path, raw)
        else:
            yield SourceItem(raw, None, "cannot read: no such file or directory", path)
