"""Provider event files read and mapped to ``EventIn``, here or in a second process.

On the stream a provider really sends (half of it SendGrid "processed" lines,
then deliveries and opens), decoding the JSON and mapping it is about a quarter
of an ingest's time: a big file is read and mapped by a child process
(``ingest.child``) while this process writes.  Both sides run ``mapped_items``.
Standard input and small files are mapped here.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest import child
from ingest.providers import to_events as provider_events
from ingest.providers.common import ProviderEventError
from ingest.providers.reader import read_events
from models.events import EventIn, clean_event

#: Items per message from the child (fewer when their rejected text passes CHUNK_CHARS).
CHUNK_ITEMS = 1000
CHUNK_CHARS = 4 * 1024 * 1024

#: What a field of an unexpected type, size or shape raises while one message or event is mapped.
#: Anything else is a bug of ours: it stops the run (nothing is moved or quarantined) with a traceback.
UNREADABLE = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError)

_FIELDS = tuple(f.name for f in dataclasses.fields(EventIn))
#: An event's fields as a tuple, ``EventIn(*values_of(e))`` being ``e`` again (what travels from a child).
values_of = operator.attrgetter(*_FIELDS)


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
    if path.stat().st_size < child.CHILD_MIN_BYTES or not child.can_start():
        with open_events(path) as fh:
            yield from mapped_items(provider, str(path), counted(fh, on_read), account_id=account_id,
                                    mailing_header=mailing_header)
        return
    chunks = child.from_child("ingest.mapped:mapped_chunks", [provider, str(path), account_id, mailing_header],
                              str(path))
    try:
        for items, read, untracked in chunks:  # type: ignore[misc]
            if on_read is not None:
                on_read(read)
            if untracked:
                yield Mapped("", [], count=untracked)
            for position, values, error, raw in items:
                yield Mapped(position, [EventIn(*v) for v in values], error, raw)
    finally:
        chunks.close()  # ends the child now, not when the generator is collected


def counted(lines: Iterable[str], on_read: Callable[[int], None] | None) -> Iterator[str]:
    """``lines``, telling ``on_read`` the length of each."""
    for line in lines:
        if on_read is not None:
            on_read(len(line))
        yield line


def mapped_chunks(provider: str, path: str, account_id: int | None, mailing_header: str) -> Iterator[tuple]:
    """In the child (``map_file``): the file's items, as (items, characters read, untracked pieces) chunks.

    Untracked pieces travel as a count, items as plain tuples (pickled faster than the dataclasses).
    """
    read = 0

    def count(n: int) -> None:
        nonlocal read
        read += n

    chunk: list[tuple] = []
    sent = untracked = chars = 0
    with open_events(path) as fh:
        for m in mapped_items(provider, path, counted(fh, count), account_id=account_id,
                              mailing_header=mailing_header):
            if m.events or m.error is not None:
                chunk.append((m.position, [values_of(e) for e in m.events], m.error, m.raw))
                chars += len(m.raw or "")
            else:
                untracked += 1
            if len(chunk) + untracked >= CHUNK_ITEMS or chars >= CHUNK_CHARS:
                yield chunk, read - sent, untracked
                sent, chunk, untracked, chars = read, [], 0, 0
    yield chunk, read - sent, untracked
