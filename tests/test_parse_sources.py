"""Sources (files, Maildir, mbox, stdin) and the ``bouncedesk parse`` command."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from ingest.parse import parse_bytes, to_events
from ingest.sources import iter_sources
from tests.conftest import CORPUS
from tui.cli import main

POSTFIX = (CORPUS / "messages" / "lhost-postfix-04.eml").read_bytes()
ARF = (CORPUS / "messages" / "arf-01.eml").read_bytes()


def test_maildir_mbox_and_unreadable(tmp_path: Path) -> None:
    md = tmp_path / "box"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1").write_bytes(POSTFIX)
    (md / "cur" / "2").write_bytes(ARF)
    (md / "tmp" / "3").write_bytes(b"half written")
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(b"From a@b Mon Jan  1 00:00:00 2024\n" + POSTFIX + b"\nFrom c@d Mon Jan  1 00:00:00 2024\n" + ARF)
    items = list(iter_sources([str(md), str(mbox), str(tmp_path / "missing.eml")]))
    sources = [i.source for i in items]
    assert sources == [str(md / "cur" / "2"), str(md / "new" / "1"), f"{mbox}:1", f"{mbox}:2", str(tmp_path / "missing.eml")]
    assert items[1].maildir_new and not items[0].maildir_new
    assert items[-1].error and items[-1].data is None
    kinds = [parse_bytes(i.data).kind for i in items[:4]]
    assert kinds == ["complaint", "bounce", "bounce", "complaint"]


def test_an_empty_mbox_entry_is_reported_and_keeps_the_numbers(tmp_path: Path) -> None:
    """box.mbox:3 is the third "From " entry of the file, whatever came before it (QA: an empty one was
    dropped and the later messages renumbered)."""
    sep = b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n"
    mbox = tmp_path / "box.mbox"
    mbox.write_bytes(sep + POSTFIX + b"\n" + sep + b"\n" + sep + ARF)
    items = list(iter_sources([str(mbox)]))
    assert [(i.source, i.error) for i in items] == [
        (f"{mbox}:1", None), (f"{mbox}:2", "empty message (nothing after its From line): skipped"), (f"{mbox}:3", None)]
    assert parse_bytes(items[2].data).kind == "complaint"


def test_provider_events_given_to_ingest_point_at_the_events_command(tmp_path: Path, capsys) -> None:
    """A SendGrid file given to ``ingest`` is set aside with the command that reads it (QA: "nothing to record")."""
    path = tmp_path / "sg.jsonl"
    path.write_text('{"event": "bounce", "email": "a@example.com", "sg_event_id": "x"}\n', encoding="utf-8")
    assert main(["--db", f"sqlite:///{tmp_path / 'd.db'}", "ingest", str(path)]) == 0
    captured = capsys.readouterr()
    assert (f"{path}: not a mail message but JSON (a provider's events?): read it with 'bouncedesk events"
            in captured.err)
    assert "1 quarantined" in captured.out


def test_a_fifo_in_a_directory_is_skipped_not_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reading a FIFO blocks until a writer comes: a cron ingest of a directory would hang for ever (QA)."""
    import os
    import signal

    box = tmp_path / "in"
    box.mkdir()
    os.mkfifo(box / "pipe.eml")
    (box / "z.eml").write_bytes(POSTFIX)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("reading the directory blocked on the FIFO"))
    signal.alarm(20)
    try:
        items = list(iter_sources([str(box)]))
        assert [(i.source, i.error) for i in items] == [
            (str(box / "pipe.eml"), "not a regular file (a FIFO, socket or device): skipped"),
            (str(box / "z.eml"), None)]
        assert main(["--db", f"sqlite:///{tmp_path / 'd.db'}", "ingest", str(box)]) == 0
    finally:
        signal.alarm(0)
    err = capsys.readouterr().err
    assert f"{box / 'pipe.eml'}: not a regular file" in err


def test_parse_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "b.eml"
    f.write_bytes(POSTFIX)
    assert main(["parse", "--json", str(f), str(tmp_path / "nope")]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "source": str(f), "kind": "bounce", "error": None,
        "recipients": [{"address": "kijitora@example.co.jp", "status": "5.1.1", "reply": "550", "reason": "userunknown",
                        "category": "unknown_user", "severity": "hard", "blame": "recipient",
                        "diagnostic": lines[0]["recipients"][0]["diagnostic"], "feedback_type": None}],
    }
    assert lines[1]["error"] and lines[1]["recipients"] == []


def test_parse_command_table_prints_outside_text_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = (b"From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n\n"
               b"<x@example.net>: host mx said: 550 5.1.1 [bold]no[/bold] [link=http://x]y[/link] user unknown\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(hostile)))
    assert main(["parse", "-"]) == 0
    out = capsys.readouterr().out
    assert "[bold]no[/bold] [link=http://x]y[/link]" in out and "x@example.net" in out and "userunknown" in out


def test_bad_arguments_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["parse"])
    assert exc.value.code == 2
    assert main(["parse", "--mailing-header", "X: y", "x"]) == 2


def test_linking_hints_and_events() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example.org\nTo: bounces+abc123@news.example.com\nMessage-ID: <r1@mx>\n"
           b"Subject: Undelivered Mail Returned to Sender\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
           b"--B\n\nfailed\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
           b"Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 4.4.7\nDiagnostic-Code: smtp; 4.4.7 expired\n\n"
           b"Final-Recipient: rfc822; b@example.net\nAction: delayed\nStatus: 4.2.2\n\n"
           b"--B\nContent-Type: text/rfc822-headers\n\nMessage-ID: <orig@us>\nX-Bouncedesk-Mailing: M-42\nTo: a@example.net\n--B--\n")
    msg = parse_bytes(raw, source="t")
    assert msg.kind == "bounce" and msg.verp_token == "abc123" and msg.mailing_code == "M-42"
    assert msg.original_message_id == "<orig@us>"
    a, b = msg.recipients
    assert a.gave_up and a.severity == "soft" and a.reason == "expired"
    assert b.severity == "pending" and b.reason == "mailboxfull"
    events = to_events(msg, account_id=7)
    assert [e.kind for e in events] == ["bounce", "delay"]
    assert len({e.dedupe_key for e in events}) == 2 and events[0].verp_token == "abc123" and events[0].account_id == 7
    assert to_events(parse_bytes(raw, source="again"))[0].dedupe_key == events[0].dedupe_key


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_line_endings(ending: bytes) -> None:
    msg = parse_bytes(POSTFIX.replace(b"\n", ending))
    assert [r.address for r in msg.recipients] == ["kijitora@example.co.jp"]
