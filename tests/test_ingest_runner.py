"""``bouncedesk ingest`` and ``bouncedesk events``: exactly once, quarantine, Maildir, rules, exit codes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from ingest.parse import MAX_MESSAGE_BYTES
from ingest.runner import Progress, Summary
from models import crm
from models.db import data_dir, open_database
from models.address_state import state_of
from models.schema import Address, Consent, Event, Recipient
from tests.conftest import CORPUS
from tui.cli import main

BOUNCES = ["lhost-postfix-04.eml", "lhost-postfix-05.eml", "lhost-exim-05.eml", "arf-01.eml", "lhost-exim-04.eml"]


def in_child(monkeypatch) -> None:
    """Read and parse in a second process whatever the input's size, and fail if it happens here."""
    monkeypatch.setattr("ingest.child.CHILD_MIN_BYTES", 0)

    def not_here(*_args, **_kw):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("read in this process")

    monkeypatch.setattr("ingest.parsed.parse_items", not_here)  # the child imports its own
    monkeypatch.setattr("ingest.mapped.mapped_items", not_here)


def maildir(tmp_path: Path, names: list[str]) -> Path:
    box = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for i, name in enumerate(names):
        shutil.copyfile(CORPUS / "messages" / name, box / "new" / f"1700000000.{i}.host")
    return box


def seed(db_url: str) -> None:
    """An account with one mailing sent to four people."""
    open_database(db_url)
    crm.upsert_mailings([crm.MailingRow(1, "acme", "m1", "Spring")])
    crm.upsert_persons([crm.PersonRow(i, "acme", str(i), full_name=f"P{i}", emails=[f"p{i}@example.com"],
                                      consent="granted") for i in range(1, 5)])
    crm.upsert_recipients([crm.RecipientRow(i, "m1", f"p{i}@example.com") for i in range(1, 5)])


@pytest.mark.parametrize("reader", ["here", "child"])
def test_maildir_exactly_once_and_moved_to_cur(db_url, tmp_path, capsys, monkeypatch, reader):
    if reader == "child":  # the messages read and parsed by a second process, as many messages are
        in_child(monkeypatch)
    box = maildir(tmp_path, BOUNCES)
    assert main(["--db", db_url, "ingest", str(box)]) == 0
    out = capsys.readouterr().out
    assert "summary: 5 messages" in out and "0 quarantined" in out
    first = Event.select().count()
    assert first >= 4
    assert list((box / "new").iterdir()) == []
    assert sorted(p.name.rpartition(":2,")[2] for p in (box / "cur").iterdir()) == ["S"] * 5
    # second run over the same messages (now in cur/): only duplicates
    assert main(["--db", db_url, "ingest", str(box)]) == 0
    out = capsys.readouterr().out
    assert "nothing new: all" in out and "0 new events" in out
    assert Event.select().count() == first


@pytest.mark.parametrize("reader", ["here", "child"])
def test_keep_leaves_new_alone(sqlite_url, tmp_path, capsys, monkeypatch, reader):
    if reader == "child":
        in_child(monkeypatch)
    box = maildir(tmp_path, BOUNCES[:2])
    assert main(["--db", sqlite_url, "ingest", "--keep", str(box)]) == 0
    assert len(list((box / "new").iterdir())) == 2 and not list((box / "cur").iterdir())


@pytest.mark.parametrize("reader", ["here", "child"])
def test_unreadable_message_quarantined_rest_processed(sqlite_url, tmp_path, capsys, monkeypatch, reader):
    if reader == "child":
        in_child(monkeypatch)
    box = maildir(tmp_path, BOUNCES[:2])
    big = box / "new" / "1700000001.big.host"
    with big.open("wb") as fh:
        fh.write(b"From: a@example.com\n\n")
        fh.truncate(MAX_MESSAGE_BYTES + 10)
    assert main(["--db", sqlite_url, "ingest", str(box)]) == 0
    captured = capsys.readouterr()
    assert "1 quarantined" in captured.out and "1 warning" in captured.out
    warning = [x for x in captured.err.splitlines() if x.startswith("warning:")]
    assert len(warning) == 1 and str(big) in warning[0] and "over the" in warning[0]
    copies = list((data_dir() / "quarantine").glob("*.eml"))
    assert len(copies) == 1 and copies[0].stat().st_size == MAX_MESSAGE_BYTES + 10
    assert "1700000001.big.host" in (data_dir() / "quarantine" / "index.log").read_text()
    assert Event.select().count() >= 2


@pytest.mark.parametrize("reader", ["here", "child"])
def test_provider_events_apply_rules_and_reject_bad_lines(db_url, tmp_path, capsys, monkeypatch, reader):
    if reader == "child":  # the file read and mapped by a second process, as big files are
        in_child(monkeypatch)
    seed(db_url)
    lines = [
        # p1: hard bounce -> blocked
        {"event": "bounce", "email": "p1@example.com", "sg_event_id": "e1", "timestamp": 1700000000,
         "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown", "mailing": "m1"},
        # p2: two soft bounces counted, then a delivery resets the count, then an open
        {"event": "bounce", "email": "p2@example.com", "sg_event_id": "e2", "timestamp": 1700000001,
         "type": "bounce", "status": "4.2.2", "reason": "452 4.2.2 mailbox full", "mailing": "m1"},
        {"event": "bounce", "email": "p2@example.com", "sg_event_id": "e3", "timestamp": 1700000002,
         "type": "bounce", "status": "4.2.2", "reason": "452 4.2.2 mailbox full", "mailing": "m1"},
        {"event": "delivered", "email": "p3@example.com", "sg_event_id": "e4", "timestamp": 1700000003,
         "mailing": "m1"},
        {"event": "open", "email": "p3@example.com", "sg_event_id": "e5", "timestamp": 1700000004, "mailing": "m1"},
        {"event": "spamreport", "email": "p4@example.com", "sg_event_id": "e6", "timestamp": 1700000005,
         "mailing": "m1"},
        {"event": "processed", "email": "p4@example.com", "sg_event_id": "e7", "timestamp": 1700000000},
    ]
    text = "\n".join(json.dumps(x) for x in lines[:3]) + "\n{broken json\n" + "\n".join(
        json.dumps(x) for x in lines[3:]) + '\n{"event": "bounce"}\n'
    path = tmp_path / "sg.jsonl"
    path.write_text(text)
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(path)]) == 0
    captured = capsys.readouterr()
    assert "6 new events" in captured.out and "1 new block," in captured.out
    assert "1 consent revocation," in captured.out and "2 quarantined" in captured.out
    assert "2 warnings" in captured.out
    err = [x for x in captured.err.splitlines() if x.startswith("warning:")]
    assert err[0].startswith(f"warning: {path}:line 4: not JSON")
    assert err[1].startswith(f"warning: {path}:line 9: SendGrid bounce event without an email")
    rejects = [json.loads(x) for x in (data_dir() / "rejects" / "sg.jsonl.jsonl").read_text().splitlines()]
    assert [(r["position"], r["raw"]) for r in rejects] == [("line 4", "{broken json"),
                                                            ("line 9", '{"event": "bounce"}')]
    addr = {a.email: state_of(a.id) for a in Address.select()}
    assert addr["p1@example.com"].status == "blocked" and addr["p1@example.com"].blocked_reason == "userunknown"
    assert (addr["p2@example.com"].status, addr["p2@example.com"].bounce_count) == ("active", 2)
    rec = {r.email: r for r in Recipient.select()}
    assert rec["p3@example.com"].status == "opened" and rec["p3@example.com"].opened
    assert rec["p4@example.com"].status == "complained"
    assert Consent.get(Consent.person == Address.get(Address.email == "p4@example.com").person_id).state == "revoked"
    # a delivery to p2 resets its soft count
    reset = tmp_path / "reset.jsonl"
    reset.write_text(json.dumps({"event": "delivered", "email": "p2@example.com", "sg_event_id": "e8",
                                 "timestamp": 1700000010, "mailing": "m1"}) + "\n")
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(reset)]) == 0
    assert state_of(Address.get(Address.email == "p2@example.com").id).bounce_count == 0
    # the same file again: duplicates only, and the count is not touched
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(path)]) == 0
    assert "nothing new: all 6 events were already recorded" in capsys.readouterr().out
    assert state_of(Address.get(Address.email == "p2@example.com").id).bounce_count == 0


def test_events_from_stdin(sqlite_url, monkeypatch, capsys):
    body = json.dumps([{"event": "delivered", "email": "x@example.com", "sg_event_id": "s1", "timestamp": 1}])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(body.encode())))
    assert main(["--db", sqlite_url, "events", "--provider", "sendgrid", "-"]) == 0
    assert "1 new event," in capsys.readouterr().out


def test_exit_statuses(tmp_path, sqlite_url, capsys):
    assert main(["--db", sqlite_url, "ingest", str(tmp_path / "nope")]) == 2
    assert main(["--db", sqlite_url, "events", "--provider", "ses", str(tmp_path / "nope.json")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--db", sqlite_url, "events", "--provider", "nonesuch", "-"])
    assert exc.value.code == 2
    assert main(["--db", sqlite_url, "ingest", "--account", "nobody", str(tmp_path)]) == 2
    # an unreachable database is fatal
    assert main(["--db", "postgresql://nobody@127.0.0.1:1/none", "ingest", str(tmp_path)]) == 1
    assert "cannot use" in capsys.readouterr().err


def test_progress_bar_on_a_terminal_and_log_lines_otherwise():
    summary = Summary()
    tty = io.StringIO()
    bar = Progress(summary, stream=tty, tty=True, total=10)
    bar.done = 5
    bar.draw()
    assert "[############............]  50% 5 messages " in tty.getvalue()
    assert "/s, 0 events" in tty.getvalue()
    log = io.StringIO()
    plain = Progress(summary, stream=log, tty=False, total=10)
    plain.advance(3)
    plain.finish()
    assert log.getvalue().startswith("ingest: 3 messages ") and "/s, 0 events" in log.getvalue()
    assert "\r" not in log.getvalue()


def _run_cli(args: list[str], *, tty: bool) -> tuple[int, str, str]:
    """Run ``bouncedesk ARGS`` as a real process; stderr on a pseudo-terminal when ``tty``."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    from tests.conftest import ROOT

    cmd = [sys.executable, "-m", "tui.cli", *args]
    if not tty:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # an 80x24 terminal
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out = proc.stdout.read().decode()  # type: ignore[union-attr]
    proc.wait(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_log_lines_in_cron(sqlite_url, tmp_path):
    box = maildir(tmp_path, BOUNCES)
    with (box / "new" / "1700000009.bad.host").open("wb") as fh:  # over the size limit: quarantined, a warning
        fh.write(b"From: a@example.com\n\n")
        fh.truncate(MAX_MESSAGE_BYTES + 10)
    code, out, err = _run_cli(["--db", sqlite_url, "ingest", "--keep", str(box)], tty=True)
    assert code == 0, err
    bar = [part for part in err.split("\r") if part.startswith("[")]
    assert bar and "] 100% 6 messages " in bar[-1] and "/s, 5 events (5 new), " in bar[-1] and bar[-1].rstrip().endswith("quarantined")
    assert all(len(part.rstrip("\r\n")) < 80 for part in bar)  # fits the terminal's 80 columns
    assert "warning: " in err and "1700000009.bad.host" in err
    assert "summary: 6 messages" in out and "1 quarantined" in out and "1 warning" in out
    for part in ("new events", "new blocks", "consent revocations", "duplicates"):
        assert part in out
    # not a terminal (cron): plain lines, no carriage returns or bars; the same summary on stdout
    code, out, err = _run_cli(["--db", sqlite_url, "ingest", "--keep", str(box)], tty=False)
    assert code == 0 and "\r" not in err and "[#" not in err
    assert any(line.startswith("ingest: 6 messages ") and line.endswith("quarantined")
               for line in err.splitlines()), err
    assert "nothing new" in out and "1 warning" in out


def test_event_file_progress_counts_events_not_bytes():
    summary = Summary()
    summary.lines = 1234
    out = io.StringIO()
    Progress(summary, stream=out, tty=False, total=10_000, unit="bytes").finish()
    assert out.getvalue().startswith("ingest: 1,234 provider events ") and "/s, 0 events" in out.getvalue()
    assert "bytes" not in out.getvalue()


@pytest.mark.parametrize("command", [["ingest", "."], ["events", "--provider", "ses", "pyproject.toml"],
                                     ["import", "persons", "pyproject.toml"]])
def test_database_problems_are_fatal_or_bad_arguments(command, tmp_path):
    from tests.conftest import ROOT

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (f"sqlite:///{blocker}/sub/db.sqlite", 1, "cannot use the database"),  # cannot be created
        ("postgresql://nobody:s3cret@127.0.0.1:1/none", 1, "cannot use the database"),  # nobody listening
        ("mysql://somewhere/db", 2, "unsupported database URL"),
    ]
    for url, status, text in cases:
        code, out, err = _run_cli(["--db", url, *command], tty=False)
        assert code == status, (url, err)
        assert text in err and "Traceback" not in err and "s3cret" not in err
        assert len(err.strip().splitlines()) == 1, err
    assert (ROOT / "pyproject.toml").exists()


def test_bad_batch_size_is_a_bad_argument(sqlite_url, tmp_path):
    assert main(["--db", sqlite_url, "ingest", "--batch", "0", str(tmp_path)]) == 2
    assert main(["--db", sqlite_url, "events", "--provider", "ses", "--batch", "-1", "-"]) == 2


def test_the_progress_total_counts_the_files_that_are_read(tmp_path) -> None:
    """Dot-files and a Maildir's tmp/ are neither read nor counted (the total was 1 too many per tmp file)."""
    from ingest.runner import count_messages
    from ingest.sources import iter_sources

    box = tmp_path / "box"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    (box / "new" / "1").write_bytes(b"Subject: a\n\nx\n")
    (box / "cur" / "2").write_bytes(b"Subject: b\n\nx\n")
    (box / "tmp" / "3").write_bytes(b"half written")
    (box / "cur" / ".hidden").write_bytes(b"x")
    assert count_messages([str(box)]) == len(list(iter_sources([str(box)]))) == 2
