"""``ingest.parsed``: many messages read and parsed by a child process give exactly what parsing them here gives."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from ingest.parse import MAX_MESSAGE_BYTES
from ingest.parsed import _at_least, parse_items, parse_paths
from ingest.sources import iter_sources
from tests.conftest import CORPUS
from tests.ingest_world import dsn_message, fill_maildir
from tests.readers import failed_batch_ends_the_reader, killed_reader_stops_the_run

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
    killed_reader_stops_the_run(parse_paths([str(box)], **SETTINGS), "Many")


def test_a_failed_batch_ends_the_reader_process_at_once(tmp_path, monkeypatch, sqlite_db):
    """The writer fails while a big Maildir is read: ``ingest_paths`` ends the reader then."""
    from ingest.runner import ingest_paths

    box = fill_maildir(tmp_path / "Many", 4000, 50)
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    failed_batch_ends_the_reader(lambda batcher, progress: ingest_paths([str(box)], batcher, progress))
    assert len(list((box / "new").iterdir())) == 4000  # nothing committed: nothing moved to cur/
