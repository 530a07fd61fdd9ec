"""``ingest.parsed``: many messages read and parsed by a child process give exactly what parsing them here gives."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
from pathlib import Path

import pytest

from ingest.child import ReaderVanished
from ingest.parse import MAX_MESSAGE_BYTES
from ingest.parsed import _at_least, parse_items, parse_paths
from ingest.sources import iter_sources
from tests.conftest import CORPUS
from tests.ingest_world import dsn_message, fill_maildir
from tests.test_mapped import _gone, _readers

SETTINGS = {"account_id": 3, "mailing_header": "X-Mailing", "verp_prefix": "bounce"}


def _sources(tmp_path: Path) -> list[str]:
    """A Maildir and an mbox holding every kind of message a reader meets."""
    box = fill_maildir(tmp_path / "Maildir", 30, 10)  # DSNs about p0..p9@example.com
    for i, msg in enumerate(sorted((CORPUS / "messages").glob("*.eml"))[::9]):  # bounces, complaints, others
        shutil.copyfile(msg, box / ("cur" if i % 2 else "new") / f"1700000001.C{i}.host:2,")
    # an unusable address: quarantined with its bytes, which must come back from the child
    (box / "new" / "1700000002.long.host").write_bytes(dsn_message(1, "x" * 300 + "@example.com"))
    with (box / "new" / "1700000003.big.host").open("wb") as fh:  # too big: quarantined from its path
        fh.write(b"From: a@example.com\n\n")
        fh.truncate(MAX_MESSAGE_BYTES + 1)
    (box / "new" / os.fsdecode(b"1700000004.caf\xe9.host")).write_bytes(dsn_message(2, "p1@example.com"))
    (box / "tmp" / "1700000005.partial.host").write_bytes(b"From: half written")  # skipped: still being written
    mbox = tmp_path / "archive.mbox"  # its third message quarantined: those bytes travel through the pipe
    mbox.write_bytes(b"".join(b"From MAILER-DAEMON Tue Nov 14 22:13:00 2023\n" + dsn_message(n, rcpt) + b"\n"
                              for n, rcpt in enumerate(["p0@example.com", "p1@example.com", "y" * 300 + "@x.org"])))
    return [str(box), str(mbox)]


def _flat(parsed) -> list[tuple]:
    return [(p.item.source, p.item.path, p.item.maildir_new, p.error, p.item.data if p.error else None,
             [dataclasses.astuple(e) for e in p.events]) for p in parsed]


def test_the_child_parses_exactly_what_parsing_here_gives(tmp_path, monkeypatch):
    paths = _sources(tmp_path)
    here = _flat(parse_items(iter_sources(paths), **SETTINGS))
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)

    def not_here(*_args, **_kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("parsed in this process")

    monkeypatch.setattr("ingest.parsed.parse_items", not_here)  # the child imports its own, unpatched
    child = _flat(parse_paths(paths, **SETTINGS))
    assert child == here
    errors = {source.rpartition("/")[2]: data for source, _path, _new, error, data, _events in here if error}
    assert errors["1700000002.long.host"] and errors["archive.mbox:3"]  # re-read here / carried
    assert errors["1700000003.big.host"] is None
    assert sum(len(events) for *_rest, events in here) > 40
    assert {new for _source, _path, new, *_rest in here} == {True, False}
    assert any(source.endswith("archive.mbox:3") for source, *_rest in here)
    assert not any("partial" in source for source, *_rest in here)


def test_few_bytes_or_standard_input_are_parsed_here(tmp_path, monkeypatch):
    (tmp_path / "a.eml").write_bytes(b"0123456789")
    assert _at_least([str(tmp_path)], 10) and not _at_least([str(tmp_path)], 11)
    assert _at_least([str(tmp_path / "a.eml"), str(tmp_path)], 20)
    assert not _at_least([str(tmp_path / "missing")], 1)
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 11)
    called: list[int] = []

    def spy(items, **kw):  # noqa: ANN001, ANN003, ANN202
        called.append(1)
        return iter(())

    monkeypatch.setattr("ingest.parsed.parse_items", spy)
    assert list(parse_paths([str(tmp_path)], **SETTINGS)) == [] and called == [1]
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    assert list(parse_paths(["-", str(tmp_path)], **SETTINGS)) == [] and called == [1, 1]


def test_a_reader_process_that_dies_stops_the_run_with_one_line(tmp_path, monkeypatch):
    box = fill_maildir(tmp_path / "Many", 4000, 50)  # more than the pipe and the queue hold
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    parsed = parse_paths([str(box)], **SETTINGS)
    next(parsed)
    (pid,) = _readers()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ReaderVanished, match=r"Many: the process reading it ended unexpectedly "
                                             r"\(end of its output, exit code -9\); what was recorded stays"):
        for _ in parsed:
            pass
    assert not _readers()


def test_a_failed_batch_ends_the_reader_process_at_once(tmp_path, monkeypatch, sqlite_db):
    """The writer fails: ``ingest_paths`` ends the reader then, not when the generator is collected."""
    from ingest.runner import Batcher, Progress, Summary, ingest_paths

    box = fill_maildir(tmp_path / "Many", 4000, 50)
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    seen: list[list[int]] = []

    def failing(events, **_kw):  # noqa: ANN001, ANN003, ANN202
        seen.append(_readers())
        raise OSError(28, "No space left on device")

    summary = Summary()
    with open(os.devnull, "w") as quiet, pytest.raises(OSError, match="No space left") as failed:
        with Batcher(summary, cause="test", batch_size=100, record=failing) as batcher:
            ingest_paths([str(box)], batcher, Progress(summary, stream=quiet, tty=False))
    assert seen and len(seen[0]) == 1  # the reader was there, mid-Maildir, when the batch failed
    assert failed.traceback is not None and _gone(seen[0][0], 5) and not _readers()
    assert len(list((box / "new").iterdir())) == 4000  # nothing committed: nothing moved to cur/


def test_thousands_of_paths_given_one_by_one(tmp_path, monkeypatch):
    """``bouncedesk ingest Maildir/new/*``: more paths than one command-line argument holds (128 KiB)."""
    folder = tmp_path / "a-folder-with-a-rather-long-name-as-real-maildirs-have" / "new"
    folder.mkdir(parents=True)
    paths = []
    for i in range(2500):
        path = folder / f"1700000000.M{i:06d}P1234Q5.mail.example.org,S=1234"
        path.write_bytes(b"From: someone@example.org\nSubject: hello\n\nnot a bounce\n")
        paths.append(str(path))
    assert sum(len(p) + 3 for p in paths) > 128 * 1024
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    parsed = list(parse_paths(paths, **SETTINGS))
    assert [p.item.source for p in parsed] == paths and not any(p.error or p.events for p in parsed)


def test_the_read_ahead_is_bounded_by_bytes_too():
    """The parent holds at most AHEAD_BYTES of chunks the child sent ahead (and always one, however big)."""
    import threading

    from ingest.child import _Ahead

    stop = threading.Event()
    ahead = _Ahead(10, 100)
    assert ahead.put(bytearray(60), stop) and ahead.put(bytearray(40), stop)
    stop.set()
    assert not ahead.put(bytearray(1), stop)  # full by bytes: waits, and gives up once the parent stopped
    stop.clear()
    assert len(ahead.get()) == 60 and len(ahead.get()) == 40
    assert ahead.put(bytearray(500), stop)  # bigger than the bound: fits when nothing is ahead
    assert len(ahead.get()) == 500
