"""Running an ingestion: batches, quarantine, progress and the final summary.

Every source (files, Maildir, mbox, stdin, IMAP, provider event files) ends
in the same place: events go into a ``Batcher``, which hands them to
``models.events.record_events`` a batch at a time, one transaction per batch.
A batch lands whole or not at all and every event has a unique dedupe key,
so a run killed at any moment and started again ends with the same database
as one uninterrupted run.  What a source does with a message *after* its
events are safely committed (move it from ``new/`` to ``cur/``, move it to
the IMAP processed folder) is registered as an after-commit action, so a
message is never marked processed before its events are stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ingest.mapped import Mapped, counted, map_file, mapped_items
from ingest.parsed import Parsed, parse_items, parse_paths
from ingest.sources import SourceItem, message_files
from models.db import data_dir, database
from models.events import EventIn, RecordResult, record_events
from models.settings import get_setting
from models.text import LINE_BAD, count_text
from models.wal import BackgroundCheckpoints

#: Events per ``record_events`` call: big enough that per-transaction costs
#: vanish, small enough that a batch commits within a second or two and an
#: operator writing to the same database never waits long.
BATCH_EVENTS = 5000
#: A batch is also committed after this many seconds, so a slow source
#: (IMAP, a trickling stdin) still makes progress visible in the database.
BATCH_SECONDS = 5.0


@dataclass(slots=True)
class Summary:
    """Counts of one run, for progress and the final report."""

    messages: int = 0  # messages read (files, mbox entries, IMAP messages)
    not_bounces: int = 0  # messages without an event (ordinary mail, unreadable as a report)
    lines: int = 0  # provider events read
    ignored: int = 0  # provider events of types that say nothing about an address
    quarantined: int = 0  # messages copied to the quarantine folder
    rejected: int = 0  # provider event lines written to a rejects file
    record: RecordResult = field(default_factory=RecordResult)
    warnings: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return self.record.events + self.record.duplicates

    def report(self) -> list[str]:
        """The final summary lines."""
        r = self.record
        parts = []
        if self.messages or not self.lines:
            parts.append(count_text(self.messages, "message"))
        if self.lines:
            parts.append(count_text(self.lines, "provider event"))
        parts += [
            count_text(r.events, "new event"),
            count_text(r.blocked, "new block") + (f" ({r.global_blocks:,} global)" if r.global_blocks else ""),
            count_text(r.consent_revoked, "consent revocation"),
            count_text(r.duplicates, "duplicate"),
            f"{self.quarantined + self.rejected:,} quarantined",
        ]
        lines = ["summary: " + ", ".join(parts)]
        extra = []
        if self.not_bounces:
            verb = "was" if self.not_bounces == 1 else "were"
            extra.append(f"{count_text(self.not_bounces, 'message')} {verb} no bounce or complaint")
        if self.ignored:
            extra.append(f"{count_text(self.ignored, 'provider event')} of untracked types")
        if r.unmatched:
            extra.append(f"{count_text(r.unmatched, 'event')} for addresses not in the database")
        if r.counted:
            extra.append(f"{count_text(r.counted, 'soft bounce')} counted")
        if extra:
            lines.append("         " + ", ".join(extra))
        if r.events == 0 and r.duplicates > 0:
            lines.append("nothing new: the event was already recorded (a duplicate)" if r.duplicates == 1 else
                         f"nothing new: all {r.duplicates:,} events were already recorded (duplicates only)")
        elif self.found == 0 and not self.warnings:
            lines.append("nothing to record")
        lines.append(count_text(len(self.warnings), "warning"))
        return lines


#: Warnings printed one by one; the rest of a run's are counted (``Progress.warn``).
MAX_WARNINGS_SHOWN = 50


class Progress:
    """A progress bar with counts and rate on a terminal; plain log lines otherwise (cron)."""

    def __init__(self, summary: Summary, *, stream: TextIO | None = None, tty: bool | None = None,
                 total: int | None = None, unit: str = "messages", log_every: float = 10.0) -> None:
        self.summary = summary
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total
        self.unit = unit
        self.done = 0
        self.start = time.monotonic()
        self._last = self.start
        self._log_every = log_every
        self._drawn = False
        self._warned = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= (0.2 if self.tty else self._log_every):
            self._last = now
            self.draw()

    def _text(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        s = self.summary
        # An event file's fraction is measured in bytes, but what the operator counts is events.
        count, unit = (s.lines, "provider events") if self.unit == "bytes" else (self.done, self.unit)
        return (f"{count_text(count, unit.removesuffix('s'), unit)} {count / elapsed:,.0f}/s, "
                f"{count_text(s.found, 'event')} "
                f"({s.record.events:,} new), {s.record.blocked:,} blocked, {s.quarantined + s.rejected:,} quarantined")

    def draw(self) -> None:
        if not self.tty:
            print(f"ingest: {self._text()}", file=self.stream, flush=True)
            return
        columns = 200
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns or 80  # 0: a terminal of unknown size
        except (OSError, ValueError, AttributeError):
            pass
        text = self._text()
        # The counts matter more than the bar: it shrinks to fit them, and goes when even 8 marks don't fit.
        width = min(24, columns - 1 - len(text) - 8)
        frac = min(self.done / self.total, 1.0) if self.total else None
        if width < 8:
            head = f"{frac * 100:3.0f}% " if frac is not None else ""
        elif frac is not None:
            bar = "#" * int(frac * width) + "." * (width - int(frac * width))
            head = f"[{bar}] {frac * 100:3.0f}% "
        else:
            pos = self.done % width
            head = "[" + "." * pos + "#" + "." * (width - pos - 1) + "] "
        line = head + text
        print("\r" + line[: columns - 1].ljust(min(columns - 1, len(line) + 2)), end="", file=self.stream, flush=True)
        self._drawn = True

    def warn(self, message: str) -> None:
        """A one-line warning, on its own line even while the bar is drawn.

        The message quotes outside text (file names, addresses, reasons): its control
        characters are shown escaped, so it stays one line and cannot drive the terminal.
        Past ``MAX_WARNINGS_SHOWN`` the rest are only counted (a file of garbage would
        otherwise print a line per bad line into a cron mail); every one is in the
        quarantine or rejects folder, and ``finish`` says how many were not shown.
        """
        self._warned += 1
        if self._warned > MAX_WARNINGS_SHOWN:
            return
        if self._drawn:
            print("\r\x1b[K", end="", file=self.stream)
        print(f"warning: {one_line(message)}", file=self.stream, flush=True)
        if self._drawn:
            self.draw()

    def finish(self) -> None:
        self.draw()
        if self.tty and self._drawn:
            print(file=self.stream, flush=True)
        if self._warned > MAX_WARNINGS_SHOWN:
            hidden = self._warned - MAX_WARNINGS_SHOWN
            print(f"warning: {count_text(hidden, 'more warning')} not shown (each item is in the quarantine or "
                  "rejects folder)", file=self.stream, flush=True)


def one_line(text: str) -> str:
    """``text`` with control characters and undecodable ones written as escapes (``\\n``, ``\\x1b``)."""
    return LINE_BAD.sub(lambda m: ascii(m.group())[1:-1], text)


class Batcher:
    """Collects events and records them in batches, then runs the after-commit actions.

    A bulk writer: on SQLite its WAL is checkpointed by a background thread
    (``models.wal``) while the next batch is read and prepared.  Use it as a
    context manager (or call ``close``) so the last batch is recorded and
    the checkpoints are finished before the run reports.
    """

    def __init__(self, summary: Summary, *, cause: str, batch_size: int = BATCH_EVENTS,
                 batch_seconds: float = BATCH_SECONDS,
                 record: Callable[..., RecordResult] = record_events) -> None:
        self.summary = summary
        self.cause = cause
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.events: list[EventIn] = []
        self.after: list[Callable[[], None]] = []
        self._record = record
        self._since = time.monotonic()
        self._checkpoints: BackgroundCheckpoints | None = None

    def __enter__(self) -> "Batcher":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        elif self._checkpoints is not None:  # failing: give the writer its checkpoints back, record nothing more
            with contextlib.suppress(Exception):  # the original error is the one to report
                self._checkpoints.close()

    def add(self, events: Iterable[EventIn], after_commit: Callable[[], None] | None = None) -> None:
        """Queue ``events``, which went through ``ingest.mapped.unusable`` (so ``clean_event``) already."""
        self.events.extend(events)
        if after_commit is not None:
            self.after.append(after_commit)
        if len(self.events) >= self.batch_size or time.monotonic() - self._since >= self.batch_seconds:
            self.flush()

    def flush(self) -> None:
        if self.events:
            if self._checkpoints is None:  # started by the thread that writes: the setting is its connection's
                self._checkpoints = BackgroundCheckpoints(database)
                self._checkpoints.start()
            self.summary.record.add(self._record(self.events, cause=self.cause, cleaned=True))
            self._checkpoints.committed()
        self.events = []
        actions, self.after = self.after, []
        self._since = time.monotonic()
        for action in actions:
            action()

    def discard(self) -> None:
        """Forget the events not recorded yet and their after-commit actions (their source failed
        mid-way: nothing of it is marked processed, so the next run reads it again)."""
        self.events = []
        self.after = []

    def close(self) -> None:
        """Record what is left and finish the background checkpoints."""
        self.flush()
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None


# -- quarantine -------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def quarantine_message(source: str, reason: str, *, data: bytes | None = None, path: Path | None = None) -> Path | None:
    """Copy an unreadable message to ``data_dir()/quarantine/`` and note why in ``index.log``.

    ``data`` when the message was read; else ``path`` when the message is a
    whole file (an oversized one, copied without reading it into memory).
    The file name starts with a hash of the content (or of the source), so
    quarantining the same message again in a second run keeps one copy.
    Returns None when there is nothing to copy (one entry of an mbox that
    was not read).
    """
    folder = data_dir() / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()[:16]
    elif path is not None and path.is_file() and str(path) == source:
        st = path.stat()
        key = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape")  # any file name
        digest = hashlib.sha256(key).hexdigest()[:16]
    else:
        digest = ""
    target = None
    if digest:
        name = _UNSAFE.sub("_", Path(source).name)[-80:]
        target = folder / f"{digest}-{name or 'message'}.eml"
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            if data is not None:
                tmp.write_bytes(data)
            else:
                assert path is not None
                shutil.copyfile(path, tmp)
            os.replace(tmp, target)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (folder / "index.log").open("a", encoding="utf-8", errors="backslashreplace") as log:  # file names may not be UTF-8
        log.write(f"{stamp}\t{source}\t{target.name if target else '-'}\t{reason}\n")
    return target


def reject_line(name: str, position: str, reason: str, raw: str | None) -> Path:
    """Append a malformed event (with its reason) to ``data_dir()/rejects/<name>.jsonl``."""
    folder = data_dir() / "rejects"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_UNSAFE.sub('_', Path(name).name) or 'stdin'}.jsonl"
    with target.open("a", encoding="utf-8", errors="backslashreplace") as out:  # raw may hold undecodable bytes
        out.write(json.dumps({"file": name, "position": position, "reason": reason, "raw": raw},
                             ensure_ascii=False) + "\n")
    return target


# -- Maildir ---------------------------------------------------------------------------


def maildir_seen(path: Path) -> None:
    """Move a processed message from ``new/`` to ``cur/`` with the Seen flag (Maildir ``:2,S``).

    A message that vanished meanwhile (another reader moved it) is left alone.
    """
    base, _, flags = path.name.partition(":2,")
    flags = "".join(sorted(set(flags) | {"S"}))
    try:
        os.rename(path, path.parent.parent / "cur" / f"{base}:2,{flags}")
    except FileNotFoundError:
        pass


# -- the two kinds of run -------------------------------------------------------------------


def ingest_messages(
    items: Iterable[SourceItem],
    batcher: Batcher,
    progress: Progress,
    *,
    account_id: int | None = None,
    keep: bool = False,
    on_done: Callable[[SourceItem, str], None] | None = None,
) -> None:
    """Parse (here) and record every message; quarantine the unreadable ones.

    ``on_done(item, outcome)`` (outcome ``processed`` or ``quarantined``) runs
    after the message's events are committed: IMAP uses it to move the message.
    """
    record_parsed(parse_items(items, **_parse_options(account_id)), batcher, progress, keep=keep, on_done=on_done)


def _parse_options(account_id: int | None) -> dict:
    """How messages are parsed: the account to match in and the settings that name a mailing."""
    return {"account_id": account_id, "mailing_header": str(get_setting("mailing_id_header")),
            "verp_prefix": str(get_setting("verp_prefix"))}


def record_parsed(
    parsed: Iterable[Parsed],
    batcher: Batcher,
    progress: Progress,
    *,
    keep: bool = False,
    on_done: Callable[[SourceItem, str], None] | None = None,
) -> None:
    """Record the events of every parsed message, in order; quarantine the unreadable ones."""
    summary = batcher.summary
    for p in parsed:
        item = p.item
        summary.messages += 1
        if p.error is not None:
            summary.quarantined += 1
            copy = quarantine_message(item.source, p.error, data=item.data, path=item.path)
            message = f"{item.source}: {p.error}" + (f" (copied to {copy})" if copy else " (not copied)")
            summary.warnings.append(message)
            progress.warn(message)
            batcher.add((), _after(item, "quarantined", keep, on_done))
        else:
            if not p.events:
                summary.not_bounces += 1
            batcher.add(p.events, _after(item, "processed", keep, on_done))
        progress.advance()
    batcher.flush()


def _in_maildir_new(path: Path) -> bool:
    """A file in a Maildir's ``new/`` (also one that starts with a ``From `` line, as some MDAs write)."""
    return path.parent.name == "new" and (path.parent.parent / "cur").is_dir()


def _after(item: SourceItem, outcome: str, keep: bool,
           on_done: Callable[[SourceItem, str], None] | None) -> Callable[[], None] | None:
    actions: list[Callable[[], None]] = []
    if item.path is not None and not keep and (item.maildir_new or _in_maildir_new(item.path)):
        path = item.path
        actions.append(lambda: maildir_seen(path))
    if on_done is not None:
        actions.append(lambda: on_done(item, outcome))
    if not actions:
        return None

    def run() -> None:
        for action in actions:
            action()

    return run


def count_messages(paths: list[str]) -> int | None:
    """How many files a run over ``paths`` will read (for the progress bar), None when unknown."""
    total = 0
    for raw in paths:
        if raw == "-":
            return None
        path = Path(raw)
        if path.is_dir():
            total += sum(1 for _ in message_files(path))
        elif path.is_file():
            try:
                with path.open("rb") as fh:
                    if fh.read(5) == b"From ":
                        return None  # an mbox: its count is only known after reading it
            except OSError:
                pass  # unreadable: reading it reports that, with its name
            total += 1
    return total


def ingest_paths(paths: list[str], batcher: Batcher, progress: Progress, *, account_id: int | None = None,
                 keep: bool = False) -> None:
    """``bouncedesk ingest PATH...``: files, directories, Maildirs, mbox and stdin; many messages are read and
    parsed by a second process while this one writes (``ingest.parsed.parse_paths``)."""
    parsed = parse_paths(paths, **_parse_options(account_id))
    with contextlib.closing(parsed):  # a failed batch ends the reader process now, not when garbage is collected
        record_parsed(parsed, batcher, progress, keep=keep)


def ingest_event_file(
    provider: str,
    name: str,
    lines: Iterable[str],
    batcher: Batcher,
    progress: Progress,
    *,
    account_id: int | None = None,
) -> None:
    """``bouncedesk events --provider P -``: every event of ``lines`` (standard input, or an open file)
    recorded, every bad one rejected with its line."""
    on_read = progress.advance if progress.unit == "bytes" else None
    items = mapped_items(provider, name, counted(lines, on_read), account_id=account_id,
                         mailing_header=str(get_setting("mailing_id_header")))
    _record_mapped(name, items, batcher, progress)


def ingest_event_path(provider: str, path: Path, batcher: Batcher, progress: Progress, *,
                      account_id: int | None = None) -> None:
    """``bouncedesk events --provider P FILE``: the same for a file; a big one is read and mapped by a
    second process while this one writes (``ingest.mapped.map_file``)."""
    items = map_file(provider, path, account_id=account_id, mailing_header=str(get_setting("mailing_id_header")),
                     on_read=progress.advance if progress.unit == "bytes" else None)
    with contextlib.closing(items):  # a failed batch ends the reader process now, not when garbage is collected
        _record_mapped(str(path), items, batcher, progress)


def _record_mapped(name: str, items: Iterable[Mapped], batcher: Batcher, progress: Progress) -> None:
    """Record the events of ``items`` in order; write each rejected piece to the rejects file with a warning."""
    summary = batcher.summary
    per_item = progress.unit != "bytes"
    for item in items:
        summary.lines += item.count
        if item.error is not None:
            summary.rejected += 1
            target = reject_line(name, item.position, item.error, item.raw)
            message = f"{name}:{item.position}: {item.error} (written to {target})"
            summary.warnings.append(message)
            progress.warn(message)
            continue
        if item.events:
            batcher.add(item.events)
        else:
            summary.ignored += item.count
        if per_item:
            progress.advance(item.count)
    batcher.flush()
