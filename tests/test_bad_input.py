"""Bad input never crashes a command or loses data: it is set aside with its place, the rest goes in.

Each case here once ended a run with a traceback, or lost rows without a word
(found by a review of every reader): JSON the decoder refuses for its size,
escapes of half a character, bytes that are not UTF-8, time stamps past
datetime's range, ids past 64 bits, values longer than PostgreSQL's
``VARCHAR(255)``, control characters bound for the operator's terminal,
unclosed CSV quotes, folder names that are not ASCII.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from ingest.csvimport import import_csv
from ingest.message import parse_date
from ingest.mime import decode_bytes
from ingest.providers.common import parse_time
from ingest.providers.reader import read_events
from ingest.providers.ses import to_events as ses_events
from ingest.providers.common import ProviderEventError
from ingest.runner import one_line
from ingest.sources import iter_sources
from models.db import data_dir, open_database
from models.events import EventIn, clean_event
from models.schema import Event, Person, Recipient
from tests.conftest import CORPUS
from tests.test_ingest_runner import seed
from tui.cli import main


def warnings(err: str) -> list[str]:
    return [x for x in err.splitlines() if x.startswith("warning:")]


# -- provider events -------------------------------------------------------------------------------


def test_event_lines_that_would_fail_their_batch_are_set_aside_and_the_rest_recorded(db_url, tmp_path, capsys):
    seed(db_url)
    good = {"event": "delivered", "email": "p1@example.com", "sg_event_id": "g1", "timestamp": 1700000000,
            "mailing": "m1"}
    lines = [
        "\ufeff" + json.dumps(good),  # a byte-order mark before the first line
        '{"event": "bounce", "email": "p2@example.com", "sg_event_id": "n", "n": ' + "1" * 5000 + "}",
        "[" * 100_000,  # nested past the recursion limit
        '{"event": "bounce", "email": "x\\udc80@example.com", "sg_event_id": "s1"}',  # half a character
        # an impossible recipient id (a hint only: dropped), an ESC in the reply, a 400-character MTA name:
        # all recorded, made safe
        json.dumps({"event": "bounce", "email": "p3@example.com", "sg_event_id": "g2", "type": "bounce",
                    "status": "5.1.1", "reason": "550 5.1.1 \x1b[31mno such user", "mailing": "m1",
                    "recipient_id": "9" * 20, "smtp-id": "<" + "m" * 600 + "@x>"}),
    ]
    path = tmp_path / "sg.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8")
                     # bytes that are not UTF-8: in a reason, kept as U+FFFD; in an address, the line is refused
                     + b'{"event": "bounce", "email": "p2@example.com", "sg_event_id": "g4", "type": "bounce", '
                       b'"status": "5.1.1", "reason": "550 Benutzer unbekannt \xe9"}\n'
                     + b'{"event": "open", "email": "p\xe9@example.com", "sg_event_id": "b1"}\n'
                     + (json.dumps({**good, "email": "p4@example.com", "sg_event_id": "g3"}) + "\n").encode()
                     # a time that is there but unreadable, or past datetime's range: set aside, not dated "now"
                     + (json.dumps({**good, "email": "p5@example.com", "sg_event_id": "t1", "timestamp": "not a time"})
                        + "\n" + json.dumps({**good, "email": "p5@example.com", "sg_event_id": "t2", "timestamp": 1e20})
                        + "\n").encode())
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(path)]) == 0
    captured = capsys.readouterr()
    assert "4 new events" in captured.out and "6 quarantined" in captured.out
    err = warnings(captured.err)
    assert [w.split(": ", 2)[1] for w in err] == [f"{path}:line {n}" for n in (2, 3, 4, 7, 9, 10)]
    assert "a number of more than 4,300 digits" in err[0] and "nested too deeply" in err[1]
    assert "set_int_max_str_digits" not in captured.err
    assert "unusable address" in err[2] and "unusable address" in err[3]
    assert "unreadable event time 'not a time'" in err[4] and "unreadable event time '1e+20'" in err[5]
    assert Event.get(Event.email == "p2@example.com").diagnostic.endswith("unbekannt \ufffd")
    rejects = (data_dir() / "rejects" / "sg.jsonl.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 6 and "1" * 5000 in rejects[0] and "\\udce9" in rejects[3]  # kept whole
    bounce = Event.get(Event.email == "p3@example.com")
    assert "\x1b" not in bounce.diagnostic and "no such user" in bounce.diagnostic
    assert bounce.recipient_id is not None  # linked by the mailing instead of the impossible id
    assert len(bounce.original_message_id) <= 255
    assert Recipient.get(Recipient.email == "p4@example.com").status == "delivered"
    # the same file again: nothing new, and the same lines set aside
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(path)]) == 0
    assert "nothing new: all 4 events were already recorded" in capsys.readouterr().out


def test_a_pretty_printed_array_with_its_elements_in_column_0_is_read_whole():
    text = '[\n{"event": "a",\n "n": 1},\n{"event": "b"},\n{"event": "c"}\n]\n{"event": "d"}\n'
    items = list(read_events(io.StringIO(text)))
    assert [i.error for i in items] == [None] * 4
    assert [(i.line, i.index, i.event["event"]) for i in items] == [(1, 0, "a"), (1, 1, "b"), (1, 2, "c"),
                                                                   (7, None, "d")]
    # a broken document before a whole one is still set aside on its own
    items = list(read_events(io.StringIO('{\n "a": 1,,\n}\n{"event": "e"}\n')))
    assert items[0].error and items[0].error.startswith("unfinished") or "not JSON" in (items[0].error or "")
    assert items[-1].event == {"event": "e"}


def test_ses_events_that_name_no_recipient_are_set_aside_and_a_lone_address_is_read():
    mail = {"messageId": "m1", "destination": "p1@example.com", "timestamp": "2024-01-01T00:00:00Z"}
    delivered = ses_events({"eventType": "Delivery", "mail": mail, "delivery": {"recipients": "p1@example.com"}})
    assert [e.email for e in delivered] == ["p1@example.com"]
    single = ses_events({"notificationType": "Bounce", "mail": mail, "bounce": {
        "bounceType": "Permanent", "bouncedRecipients": {"emailAddress": "p2@example.com"}, "feedbackId": "f"}})
    assert [e.email for e in single] == ["p2@example.com"]
    with pytest.raises(ProviderEventError, match="names no recipient"):
        ses_events({"notificationType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Permanent", "bouncedRecipients": [{"status": "5.1.1"}], "feedbackId": "f2"}})
    assert ses_events({"eventType": "Send", "mail": mail, "send": {}}) == []  # nothing about a recipient


def test_time_stamps_past_datetimes_range_are_unknown_not_fatal():
    assert parse_time("0001-01-01T00:00:00+05:00") is None
    assert parse_time("9999-12-31T23:59:59-01:00") is None
    assert parse_time(1e20) is None
    assert parse_date("Fri, 31 Dec 9999 23:59:59 -0100") is None
    assert parse_time("2024-03-01T10:00:00+01:00").isoformat() == "2024-03-01T09:00:00"


def test_a_bounce_dated_past_year_9999_is_recorded(sqlite_url, tmp_path, capsys):
    seed(sqlite_url)
    raw = (CORPUS / "messages" / "lhost-postfix-04.eml").read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    lines = [x for x in head.split(b"\n") if not x.lower().startswith(b"date:")]
    path = tmp_path / "late.eml"
    path.write_bytes(b"\n".join([b"Date: Fri, 31 Dec 9999 23:59:59 -0100", *lines]) + sep + body)
    assert main(["--db", sqlite_url, "ingest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0 quarantined" in out and Event.select().count() >= 1


def test_clean_event_keeps_what_it_can_and_names_an_unusable_address():
    e = EventIn(email="a@example.com", kind="bounce", dedupe_key="k" * 300, diagnostic="line\n\x1b[2Jnext",
                remote_mta="m" * 400, recipient_id=10**20, reason="x\x00y")
    assert clean_event(e) is None
    assert e.diagnostic == "line\n [2Jnext" and e.reason == "x y" and len(e.remote_mta) == 255
    assert e.recipient_id is None and len(e.dedupe_key) <= 255
    again = EventIn(email="a@example.com", kind="bounce", dedupe_key="k" * 300)
    clean_event(again)
    assert again.dedupe_key == e.dedupe_key  # the hash is as stable as the key: exactly once still holds
    assert "unusable address" in (clean_event(EventIn(email="a\x1b@x.de", kind="open", dedupe_key="1")) or "")
    assert "254" in (clean_event(EventIn(email="a" * 250 + "@x.de", kind="open", dedupe_key="2")) or "")
    # the stored form (the runner's reader process cleans, the writer does not normalise again)
    when = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    e = EventIn(email=" <Jo@Bücher.DE> ", kind="open", dedupe_key="3", occurred_at=when)
    assert clean_event(e) is None and e.email == "jo@xn--bcher-kva.de" and e.occurred_at == dt.datetime(2025, 3, 1, 10)
    # the length is that of the stored form: IDNA makes the domain longer (248 characters typed, 255 stored)
    assert "254" in (clean_event(EventIn(email="a" * 232 + "@bücherbücher.de", kind="open", dedupe_key="4")) or "")
    # a time zone that moves a time past datetime's range: the time is unknown, not a crash
    e = EventIn(email="a@x.de", kind="open", dedupe_key="5",
                occurred_at=dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    assert clean_event(e) is None and e.occurred_at is None


def test_warnings_stay_one_line_and_never_reach_the_terminal_raw():
    assert one_line("a\nb\x1b[31mc\udc80") == "a\\nb\\x1b[31mc\\udc80"


def test_text_codecs_that_are_no_charset_cannot_produce_half_characters():
    text = decode_bytes(b"a\\udc80b", "unicode_escape")
    assert text == "a\\udc80b"  # read as the UTF-8 it is, not interpreted
    text.encode("utf-8")


# -- files and directories -----------------------------------------------------------------------


def test_a_directory_that_cannot_be_listed_is_reported_not_skipped(tmp_path, monkeypatch):
    (tmp_path / "box" / "locked").mkdir(parents=True)
    shutil.copyfile(CORPUS / "messages" / "lhost-postfix-04.eml", tmp_path / "box" / "a.eml")
    real = os.scandir

    def scandir(path):  # root reads every directory: simulate the mode-000 subdirectory
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(iter_sources([str(tmp_path / "box")]))
    assert [(Path(i.source).name, i.error) for i in items] == [
        ("locked", "cannot read directory: Permission denied"), ("a.eml", None)]


def test_an_mbox_on_stdin_is_read_whole(monkeypatch):
    monkeypatch.setattr("ingest.sources.MAX_MESSAGE_BYTES", 200)
    msg = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: %d\n\n" + b"x" * 80 + b"\n\n"
    data = b"".join(msg.replace(b"%d", str(i).encode()) for i in range(5))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    items = list(iter_sources(["-"]))
    assert len(items) == 5 and all(i.error is None for i in items)
    assert b"Subject: 4" in items[-1].data


def test_import_names_a_file_it_cannot_read(sqlite_url, tmp_path, capsys):
    open_database(sqlite_url)
    assert main(["--db", sqlite_url, "import", "persons", str(tmp_path)]) == 2  # a folder: a bad argument
    assert f"{tmp_path}: Is a directory" in capsys.readouterr().err


# -- CSV ---------------------------------------------------------------------------------------------


def test_csv_unclosed_quote_sets_the_swallowed_records_aside(db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,name,email\n1,"Smith,a@example.com\n2,Jones,b@example.com\n3,Brown,c@example.com\n')
    report = import_csv("persons", str(path))
    assert report.result.created == 0
    assert any("p.csv:2: a quoted field runs from line 2" in p for p in report.problems)
    assert "Jones" in report.rejects_file.read_text()


@pytest.mark.parametrize("end", ["\n", ""])
def test_csv_unclosed_quote_on_the_last_line_is_set_aside(db, tmp_path, end):
    """The last record opens a quote that never closes: the lenient reader would store the rest of the line
    (delimiters and all) as one name; it is set aside instead, the records before imported."""
    path = tmp_path / "p.csv"
    path.write_text('id,first_name,last_name,email\n1,Ann,Lee,a@example.com\n2,Bo,"Broken,Acme,b@example.com,granted'
                    + end)
    report = import_csv("persons", str(path))
    assert report.result.created == 1
    assert any("p.csv:3: a quoted field runs from line 3 to the end of the file" in p for p in report.problems)
    assert "Broken" in report.rejects_file.read_text()
    assert not Person.select().where(Person.last_name.contains("Broken")).exists()


def test_csv_quotes_inside_an_unquoted_field_are_kept(db, tmp_path):
    """A sloppy but readable last record (a quote inside a name) is not taken for an unclosed quote."""
    path = tmp_path / "p.csv"
    path.write_text('id,first_name,last_name,email\n1,Ann,O"Lee,a@example.com\n')
    report = import_csv("persons", str(path))
    assert report.result.created == 1 and not report.problems
    assert Person.get().last_name == 'O"Lee'


def test_csv_field_over_the_size_limit_is_reported_and_the_rest_imported(db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,name,email\n1,"' + "x" * 200_000 + "\n" + "".join(
        f"{i},N{i},n{i}@example.com\n" for i in range(2, 5)))
    report = import_csv("persons", str(path))
    assert any("unreadable CSV" in p and "unclosed quote" in p for p in report.problems)
    assert report.result.created >= 1  # the rows after the damage are imported


def test_csv_apostrophes_are_not_taken_for_quotes(db, tmp_path):
    """A column of 'nicknames' makes the sniffer take ' for the quote: then 't Hart swallowed the rest."""
    path = tmp_path / "p.csv"
    path.write_text("id,nick,name,email\n" + "".join(f"{i},'Bob',Smith {i},b{i}@example.com\n" for i in range(1, 5))
                    + "5,,'t Hart,h@example.com\n6,,Anna,a@example.com\n")
    report = import_csv("persons", str(path))
    assert report.problems == [] and report.result.created == 6
    assert Person.get(Person.external_id == "5").full_name == "'t Hart"


def test_csv_bytes_past_the_first_mib_are_recoded_and_reported(db, tmp_path):
    path = tmp_path / "p.csv"
    rows = "".join(f"{i},Name {i} {'x' * 120},p{i}@example.com\n" for i in range(1, 8_000))
    data = ("id,name,email\n" + rows).encode() + "8000,Ren\xe9e,r@example.com\n".encode("cp1252")
    assert len(data) > 1 << 20  # past the part that chooses the encoding
    path.write_bytes(data)
    report = import_csv("persons", str(path))
    assert report.problems == ["p.csv:8001: bytes that are not UTF-8, read as Windows-1252: check the names"]
    assert Person.get(Person.external_id == "8000").full_name == "Renée"


def test_csv_long_values_are_cut_and_control_characters_dropped(db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,name,email\n1,"' + "N" * 300 + '",a@example.com\n2,"Bad\x1b[2J\nName",b@example.com\n')
    report = import_csv("persons", str(path))
    assert report.result.created == 2
    assert any("p.csv:2: full_name: 300 characters, cut to 255" in p or "300 characters" in p
               for p in report.problems)
    assert len(Person.get(Person.external_id == "1").full_name) == 255
    assert Person.get(Person.external_id == "2").full_name == "Bad [2J Name"
    # an id is a key: cut, two ids could become one; the row is refused instead
    path.write_text("id,name,email\n" + "K" * 300 + ",Kay,k@example.com\n")
    report = import_csv("persons", str(path))
    assert report.result.created == 0
    assert report.problems == ["p.csv:2: external_id: 300 characters, more than 255; row not imported"]


def test_an_mbox_separator_with_another_date_shape_still_splits():
    from ingest.mime import split_mbox

    data = (b"From MAILER-DAEMON 2024-01-01T00:00:00Z\nSubject: one\n\nbody\nFrom here on, text.\n\n"
            b"From MAILER-DAEMON 2024-01-02T00:00:00Z\nSubject: two\n\nbody\n")
    assert [m.split(b"\n", 1)[0] for m in split_mbox(data)] == [b"Subject: one", b"Subject: two"]


def test_a_file_name_that_is_not_utf8_is_quarantined_and_logged(sqlite_url, tmp_path, monkeypatch, capsys):
    open_database(sqlite_url)
    monkeypatch.setattr("ingest.sources.MAX_MESSAGE_BYTES", 100)
    folder = tmp_path / "in"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"r\xe9ponse.eml"), "wb") as fh:
        fh.write(b"Subject: x\n\n" + b"x" * 200)
    assert main(["--db", sqlite_url, "ingest", str(folder)]) == 0
    captured = capsys.readouterr()
    assert "1 quarantined" in captured.out
    assert [w for w in warnings(captured.err) if "r\\udce9ponse.eml" in w]
    assert "r\\udce9ponse.eml" in (data_dir() / "quarantine" / "index.log").read_text(encoding="utf-8")
    # a readable bounce under such a name is recorded (its source made storable)
    seed(sqlite_url)
    shutil.copyfile(CORPUS / "messages" / "lhost-postfix-04.eml", os.path.join(os.fsencode(folder), b"b\xe9.eml"))
    monkeypatch.setattr("ingest.sources.MAX_MESSAGE_BYTES", 1 << 20)
    assert main(["--db", sqlite_url, "ingest", str(folder)]) == 0
    assert Event.select().where(Event.source.contains("b\ufffd.eml")).count() >= 1


# -- settings, the command line ------------------------------------------------------------------


def test_an_unusable_stored_setting_falls_back_to_its_default(db, caplog, monkeypatch):
    from models import settings
    from models.events import record_events
    from models.schema import Setting
    from models.settings import all_settings, get_setting

    monkeypatch.setattr(settings, "_warned", set())  # told once per process: this test wants to hear it

    for key, raw in (("soft_bounce_limit", '"abc"'), ("hard_categories", "5"), ("pending_expiry_hours", "-1"),
                     ("global_bounce_accounts", "{not json")):
        Setting.insert(key=key, value=raw).on_conflict(conflict_target=[Setting.key],
                                                       update={Setting.value: raw}).execute()
    values = all_settings()
    assert (values["soft_bounce_limit"], values["hard_categories"], values["pending_expiry_hours"],
            values["global_bounce_accounts"]) == (5, [], 72, 3)
    assert get_setting("soft_bounce_limit") == 5
    assert "setting soft_bounce_limit: stored value" in caplog.text
    caplog.clear()
    all_settings()
    assert "soft_bounce_limit" not in caplog.text  # once, not for every batch
    record_events([EventIn(email="x@example.com", kind="bounce", dedupe_key="k1", reason="mailboxfull",
                           smtp_status="4.2.2")])  # the rules still run


def test_a_database_in_a_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--db", f"sqlite:///{blocker}/sub/b.db", "demo", "--size", "10"]) == 1  # a command that creates it
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"bouncedesk: {blocker}/sub") and "Traceback" not in err


def test_a_file_that_is_not_a_database_and_someone_elses_database_are_refused(tmp_path, capsys):
    import sqlite3

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database " * 100)
    assert main(["--db", f"sqlite:///{junk}", "sweep"]) == 1
    assert "cannot use sqlite:///" in capsys.readouterr().err
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.commit()
    con.close()
    assert main(["--db", f"sqlite:///{other}", "sweep"]) == 1
    assert "not a bouncedesk database: it holds other tables (invoices)" in capsys.readouterr().err
    con = sqlite3.connect(other)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["invoices"]
    con.close()


def test_a_closed_pipe_ends_the_output_quietly(tmp_path):
    """``parse DIR | head``: far more output than the pipe holds, so the writes after head left fail."""
    import subprocess
    import sys

    box = tmp_path / "box"
    box.mkdir()
    for i in range(600):
        shutil.copyfile(CORPUS / "messages" / "lhost-postfix-04.eml", box / f"{i}.eml")
    run = subprocess.run(["bash", "-c", f"{sys.executable} -m tui.cli parse --json {box} | head -c 10 >/dev/null; "
                          "echo status=${PIPESTATUS[0]}"],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=120)
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr
    assert "status=0" in run.stdout


def test_a_long_one_line_array_is_read_element_by_element(monkeypatch):
    monkeypatch.setattr("ingest.providers.reader.STREAM_ARRAY_CHARS", 10)
    events = [{"event": "delivered", "email": f"p{i}@example.com", "sg_event_id": f"x{i}"} for i in range(5)]
    items = list(read_events(io.StringIO(json.dumps(events) + "\n")))
    assert [(i.line, i.index, i.event) for i in items] == [(1, n, e) for n, e in enumerate(events)]
    broken = json.dumps(events[:2])[:-1] + ', 7, {"event": oops}]'
    items = list(read_events(io.StringIO(broken + "\n")))
    assert [i.event for i in items[:2]] == events[:2]
    assert items[2].error == "expected a JSON object, got int" and items[2].index == 2
    assert items[3].index == 3 and items[3].error.startswith("array element not readable")
    assert items[3].raw.startswith('{"event": oops}')


def test_a_file_of_garbage_prints_a_bounded_number_of_warnings(db_url, tmp_path, capsys):
    """Every bad line is set aside and counted; only the first 50 are printed one by one (a cron mail)."""
    from ingest.runner import MAX_WARNINGS_SHOWN

    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\n".join(b"\x00\x9c garbage line %d" % n for n in range(MAX_WARNINGS_SHOWN + 12)) + b"\n")
    assert main(["--db", db_url, "events", "--provider", "sendgrid", str(path)]) == 0
    captured = capsys.readouterr()
    shown = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(shown) == MAX_WARNINGS_SHOWN + 1
    assert shown[-1].startswith("warning: 12 more warnings not shown")
    assert f"{MAX_WARNINGS_SHOWN + 12} warnings" in captured.out
    rejects = (data_dir() / "rejects" / "garbage.jsonl.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == MAX_WARNINGS_SHOWN + 12
