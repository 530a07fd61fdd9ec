"""Returned messages parsed to ``EventIn``, here or in a second process.

Parsing a message (MIME, the DSN or the non-standard text of the bounce, the
reason rules) takes about as long as recording its events, so a big set of
files (a Maildir after a large mailing) is read and parsed by a child process
(``ingest.child``) while this process writes.  Both sides run
``parse_items``; what travels between them is the outcome per message, and
the message's bytes only when it must be quarantined.  Standard input, IMAP
and small sets of files are parsed here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest import child
from ingest.mapped import UNREADABLE, unusable, values_of
from ingest.parse import parse_bytes, to_events
from ingest.sources import SourceItem, iter_sources, message_files
from models.events import EventIn

#: Messages per chunk from the child (fewer when the bytes of quarantined ones pass CHUNK_BYTES).
CHUNK_MESSAGES = 100
CHUNK_BYTES = 8 * 1024 * 1024
#: Sent instead of the bytes of a quarantined message that is a whole file.
_REREAD = "reread"


@dataclass(slots=True)
class Parsed:
    """One message's outcome: its events (none for a message that is not a bounce), or why it is unreadable.

    ``item.data`` is kept only where the message will be quarantined (``error`` set).
    """

    item: SourceItem
    events: list[EventIn]
    error: str | None = None


def parse_items(items: Iterable[SourceItem], *, account_id: int | None, mailing_header: str,
                verp_prefix: str) -> Iterator[Parsed]:
    """Every message of ``items`` parsed; an unreadable one with its reason (to be quarantined)."""
    for item in items:
        error = item.error
        events: list[EventIn] = []
        if error is None and item.data is None:
            error = "no data"
        if error is None:
            msg = parse_bytes(item.data, source=item.source, mailing_header=mailing_header, verp_prefix=verp_prefix)
            error = msg.error
        if error is None:
            try:
                events = to_events(msg, account_id=account_id)
            except UNREADABLE as exc:  # a header of an unexpected form: this message only
                error = f"unreadable report: {type(exc).__name__}: {str(exc)[:200]}"
            else:
                error = unusable(events)
        yield Parsed(item, events, error)


def parse_paths(paths: list[str], *, account_id: int | None, mailing_header: str,
                verp_prefix: str) -> Iterator[Parsed]:
    """``parse_items`` over the messages under ``paths``, computed by a child process when there are many."""
    if "-" in paths or not child.can_start() or not _at_least(paths, child.CHILD_MIN_BYTES):
        yield from parse_items(iter_sources(paths), account_id=account_id, mailing_header=mailing_header,
                               verp_prefix=verp_prefix)
        return
    name = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1:,} more)"
    chunks = child.from_child("ingest.parsed:parsed_chunks", [paths, account_id, mailing_header, verp_prefix], name)
    try:
        for chunk in chunks:
            for source, path, maildir_new, values, error, data in chunk:  # type: ignore[union-attr]
                where = None if path is None else Path(path)
                if isinstance(data, str):  # _REREAD: a whole file to quarantine, read here (not piped)
                    try:
                        data = where.read_bytes()  # type: ignore[union-attr]
                    except OSError:
                        data = None  # gone meanwhile: quarantine_message copies what it can
                item = SourceItem(source, data, None, where, maildir_new)
                yield Parsed(item, [EventIn(*v) for v in values], error)
    finally:
        chunks.close()  # ends the child now, not when the generator is collected


def parsed_chunks(paths: list[str], account_id: int | None, mailing_header: str,
                  verp_prefix: str) -> Iterator[list[tuple]]:
    """In the child (``parse_paths``): the outcomes as chunks of plain tuples (pickled faster than objects)."""
    chunk: list[tuple] = []
    size = 0
    for p in parse_items(iter_sources(paths), account_id=account_id, mailing_header=mailing_header,
                         verp_prefix=verp_prefix):
        item = p.item
        data = item.data if p.error is not None else None
        if data is not None and item.path is not None and os.fspath(item.path) == item.source:
            data = _REREAD  # the whole file: the parent reads it again (at most one such message in memory)
        chunk.append((item.source, None if item.path is None else os.fspath(item.path), item.maildir_new,
                      [values_of(e) for e in p.events], p.error, data))
        size += len(data) if isinstance(data, bytes) else 0
        if len(chunk) >= CHUNK_MESSAGES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _at_least(paths: list[str], limit: int) -> bool:
    """Whether the files under ``paths`` hold ``limit`` bytes or more (stops counting there)."""
    total = 0
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_file():
                total += path.stat().st_size
            elif path.is_dir():
                for file in message_files(path):
                    try:
                        total += file.stat().st_size
                    except OSError:
                        continue  # gone or unreadable: reading it reports that
                    if total >= limit:
                        return True
        except OSError:
            continue
        if total >= limit:
            return True
    return False
