"""``ingest.mapped``: a big event file read and mapped by a child process gives exactly what mapping it here gives."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.mapped import map_file, mapped_items, open_events
from tests.readers import failed_batch_ends_the_reader, gone, killed_reader_stops_the_run


def _event_file(path: Path, n: int) -> None:
    """``n`` pieces of every kind a reader meets: events, untracked types, bad JSON, missing and unusable
    addresses, a pretty-printed array, bytes that are not UTF-8."""
    with path.open("wb") as out:
        out.write("\ufeff".encode())
        for i in range(n):
            kind = i % 8
            if kind == 0:
                line = json.dumps({"event": "bounce", "email": f"b{i}@example.com", "sg_event_id": f"b{i}",
                                   "timestamp": 1700000000 + i, "status": "5.1.1", "reason": "550 5.1.1 unknown"})
            elif kind == 1:
                line = "{broken json"
            elif kind == 2:
                line = json.dumps({"event": "processed", "email": f"p{i}@example.com", "sg_event_id": f"p{i}"})
            elif kind == 3:
                line = json.dumps({"event": "delivered", "sg_event_id": f"x{i}"})
            elif kind == 4:
                line = json.dumps({"event": "open", "email": f"o{i}\u001b[2J@example.com", "sg_event_id": f"o{i}"})
            elif kind == 5:
                line = json.dumps([{"event": "delivered", "email": f"d{i}@example.com", "sg_event_id": f"d{i}"},
                                   {"event": "open", "email": f"d{i}@example.com", "sg_event_id": f"e{i}"}],
                                  indent=1)
            elif kind == 6:
                out.write(b'{"event": "deferred", "email": "f%d@example.com", "sg_event_id": "f%d", '
                          b'"response": "421 caf\xe9 busy"}\n' % (i, i))
                continue
            else:
                line = json.dumps({"event": "spamreport", "email": f" <S{i}@Bücher.Example> ", "sg_event_id": f"s{i}",
                                   "mailing": "m1", "timestamp": 1700000000 + i})
            out.write(line.encode() + b"\n")



def _flat(items) -> tuple[int, int, list[tuple]]:
    """(pieces, untracked pieces, the others in order with their events' values)."""
    pieces = untracked = 0
    rest = []
    for m in items:
        pieces += m.count
        if m.events or m.error is not None:
            rest.append((m.position, m.error, m.raw, [dataclasses.astuple(e) for e in m.events]))
        else:
            untracked += m.count
    return pieces, untracked, rest


def test_the_child_maps_exactly_what_mapping_here_gives(tmp_path, monkeypatch):
    path = tmp_path / "sg.jsonl"
    _event_file(path, 5000)
    with open_events(path) as fh:
        here = _flat(mapped_items("sendgrid", str(path), fh, account_id=7, mailing_header="X-Mailing"))
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    # the child imports what this process runs, not what lies in the current directory
    (tmp_path / "models.py").write_text("print('not a message'); raise SystemExit('the wrong models.py')\n")
    (tmp_path / "ingest").mkdir()
    (tmp_path / "ingest" / "__init__.py").write_text("raise SystemExit('the wrong ingest package')\n")
    (tmp_path / "json.py").write_text("raise SystemExit('the wrong json')\n")  # imported before sys.path is set
    monkeypatch.chdir(tmp_path)
    read: list[int] = []
    child = _flat(map_file("sendgrid", path, account_id=7, mailing_header="X-Mailing", on_read=read.append))
    assert child == here
    pieces, untracked, rest = here
    assert pieces == 5000 + 625 and untracked == 625  # the arrays' second events; the "processed" lines
    assert {err is None for _pos, err, _raw, _events in rest} == {True, False}  # events and rejected pieces
    assert any("unusable address" in (err or "") for _pos, err, _raw, _ev in rest)
    emails = {values[0] for _pos, _err, _raw, events in rest for values in events}
    assert "s7@xn--bcher-kva.example" in emails  # stored form, made by the reader (``clean_event``)
    assert sum(read) == len(path.read_bytes().decode("utf-8", "surrogateescape")) - 1  # every character but the BOM


def test_a_reader_process_that_dies_stops_the_run_with_one_line(tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    # tracked events: their messages fill the pipe and the queue long before the file ends, so the reader
    # is still there (blocked) when it is killed
    path.write_text("".join(json.dumps({"event": "delivered", "email": f"p{i}@example.com", "sg_event_id": f"p{i}"})
                            + "\n" for i in range(200_000)))
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    killed_reader_stops_the_run(map_file("sendgrid", path, account_id=None, mailing_header=""), r"big\.jsonl")


def test_a_reader_whose_parent_was_killed_ends(tmp_path):
    """``kill -9`` of ``bouncedesk events`` (a cron timeout) leaves no reader process behind.

    The file is a FIFO this test writes to, so the reader cannot finish on its own: it must end because its
    parent is gone (its next message finds the pipe closed)."""
    path = tmp_path / "events.fifo"
    os.mkfifo(path)
    script = (
        "import os, pathlib, signal, sys\n"
        "import ingest.child\n"
        "import ingest.mapped as m\n"
        "from tests.readers import readers\n"
        "ingest.child.CHILD_MIN_BYTES = 0\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "items = m.map_file('sendgrid', path, account_id=None, mailing_header='')\n"
        "next(items)\n"
        "print(*readers(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    line = json.dumps({"event": "processed", "email": "p@example.com", "sg_event_id": "p"}) + "\n"
    parent = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
    with path.open("wb", buffering=0) as fifo:
        fifo.write(line.encode() * 1500)  # one message's worth: the parent gets its first item
        pids = [int(pid) for pid in parent.stdout.read().split()]
        assert parent.wait(30) == -signal.SIGKILL
        assert len(pids) == 1  # there was one, reading
        with contextlib.suppress(BrokenPipeError):  # the reader may be gone before it read them all
            fifo.write(line.encode() * 1500)  # it maps these and finds nobody to send them to
        ended = gone(pids[0], 15)
    if not ended:
        os.kill(pids[0], signal.SIGKILL)
        pytest.fail("the reader process outlived its parent by 15 s")


def test_a_file_that_fails_while_the_child_reads_it_is_one_oserror(tmp_path, monkeypatch):
    """A read error in the child (here: a directory where the file was) ends as the OSError it was."""
    path = tmp_path / "gone.jsonl"
    path.write_text('{"event": "processed", "email": "a@example.com"}\n')
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    items = map_file("sendgrid", path, account_id=None, mailing_header="")
    path.unlink()
    path.mkdir()  # the child opens it after the size was checked
    with pytest.raises(IsADirectoryError) as caught:
        list(items)
    assert caught.value.filename == str(path)


def test_a_failed_batch_ends_the_reader_process_at_once(tmp_path, monkeypatch, sqlite_db):
    """The writer fails (the database went away, a disk error) while a big event file is read."""
    from ingest.runner import ingest_event_path

    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"event": "delivered", "email": f"p{i}@example.com", "sg_event_id": f"p{i}"})
                            + "\n" for i in range(200_000)))
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)
    failed_batch_ends_the_reader(lambda batcher, progress: ingest_event_path("sendgrid", path, batcher, progress))
