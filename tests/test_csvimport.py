"""CSV import of persons, mailings and recipients, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.csvimport import CsvImportError, import_csv, parse_map
from models.db import data_dir
from models.schema import Account, Address, Company, Consent, Mailing, Person, Recipient
from tui.cli import main

PERSONS = (
    "Kundennummer;Vorname;Nachname;Firma;E-Mail;Work Email;Newsletter\n"
    "1;Anna;Müller;ACME GmbH;Anna@Example.COM;anna.work@acme.example;ja\n"
    "2;Bob;Smith;;bob@@example.com;;no\n"
    '3;"Carl\nSecond line";Jones;ACME GmbH;carl@example.org;;maybe\n'
    ";No;Id;;;;\n"
    "4;Dora;Lee;Other Ltd;dora@example.net, dora@example.com;;yes\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_persons_mapped_by_header_with_problems_listed(db, tmp_path):
    path = write(tmp_path, "persons.csv", PERSONS)
    report = import_csv("persons", path, account="acme")
    r = report.result
    assert (report.rows, r.created, r.updated) == (5, 4, 0)
    assert r.companies == 2 and r.addresses == 5
    # every refused value named with file:line, nothing dropped silently
    assert report.problems == [
        "persons.csv:3: invalid address 'bob@@example.com': "
        + report.problems[0].split("'bob@@example.com': ", 1)[1],
        "persons.csv:4: consent 'maybe' is neither yes/granted nor no/revoked; consent left unchanged",
        "persons.csv:6: no external id and no valid address: nothing to match the person by; row not imported",
    ]
    assert "not imported" in report.problems[0]
    rejects = [json.loads(x) for x in (data_dir() / "rejects" / "persons.csv.jsonl").read_text().splitlines()]
    assert [x["line"] for x in rejects] == [3, 4, 6]
    anna = Person.get(Person.external_id == "1")
    assert (anna.full_name, anna.company.name, anna.account.name) == ("Anna Müller", "ACME GmbH", "acme")
    assert sorted(a.email for a in anna.addresses) == ["anna.work@acme.example", "anna@example.com"]
    assert Person.get(Person.external_id == "3").first_name == "Carl Second line"  # a quoted line break: one line
    assert sorted(a.email for a in Person.get(Person.external_id == "4").addresses) == [
        "dora@example.com", "dora@example.net"]
    states = {c.person.external_id: c.state for c in Consent.select()}
    assert states == {"1": "granted", "2": "revoked", "4": "granted"}
    assert Company.select().count() == 2


def test_reimport_updates_and_never_regrants_revoked_consent(db, tmp_path):
    path = write(tmp_path, "p.csv", "id,first_name,last_name,email,consent\n7,Eve,Old,eve@example.com,yes\n")
    import_csv("persons", path)
    Consent.update(state="revoked", source="spam complaint").execute()
    path = write(tmp_path, "p.csv", "id,first_name,last_name,email,consent\n7,Eve,New,eve@example.com,yes\n")
    report = import_csv("persons", path)
    assert (report.result.created, report.result.updated, report.result.consent_kept_revoked) == (0, 1, 1)
    assert Person.get().last_name == "New" and Person.select().count() == 1 and Address.select().count() == 1
    assert Consent.get().state == "revoked"


def test_an_address_moved_to_another_person_and_a_new_account_are_reported(db, tmp_path):
    """Imported as the CRM says, but never silently: the operator is told which address changed hands (a
    duplicate person in the CRM) and which account name was new (a typo makes a new account)."""
    first = write(tmp_path, "a.csv", "id,first_name,last_name,email,account\n7,Eve,Sato,eve@example.com,acme\n")
    assert import_csv("persons", first).problems == []  # a new database's first account: expected
    path = write(tmp_path, "b.csv", "id,first_name,last_name,email,account\n"
                                    "8,Eva,Sato,EVE@example.com,acme\n9,Al,Typo,al@example.com,acme corp\n")
    report = import_csv("persons", path)
    assert report.problems == [
        "b.csv:3: account 'acme corp' did not exist: created (check the name if that was not meant)",
        "b.csv:2: address eve@example.com moved from person '7' to '8'",
    ]
    assert Address.get(Address.email == "eve@example.com").person.external_id == "8"
    assert Account.select().count() == 2


def test_two_persons_of_one_file_giving_the_same_address_are_reported(db, tmp_path):
    """Within one file (one batch) the last row wins, as across files, and the operator is told with both lines."""
    path = write(tmp_path, "d.csv", "id,first_name,last_name,email\n"
                                    "7,Eve,Sato,eve@example.com\n8,Eva,Sato,Eve@Example.com\n"
                                    "9,Al,Ode,al@example.com\n9,Al,Ode,al@example.com\n"
                                    ",Bo,Loose,bo@example.com\n,Bo,Other,bo@example.com\n")
    report = import_csv("persons", path)
    assert report.problems == ["d.csv:3: address eve@example.com is also given to person '7' on line 2: it goes to '8'"]
    assert Address.get(Address.email == "eve@example.com").person.external_id == "8"
    assert Address.select().count() == 3  # the same person twice (9) and a loose row matched by its address: quiet


def test_map_option_and_missing_required_column(db, tmp_path):
    path = write(tmp_path, "m.csv", "Kampagne,Titel,Versand\nspring,Spring sale,2024-03-01 09:30\n")
    with pytest.raises(CsvImportError, match="no column for code"):
        import_csv("mailings", path)
    report = import_csv("mailings", path, mapping=parse_map(["Kampagne=code", "Titel=name", "Versand=sent_at"],
                                                            "mailings"))
    assert report.result.created == 1
    m = Mailing.get(Mailing.code == "spring")
    assert (m.name, str(m.sent_at)) == ("Spring sale", "2024-03-01 09:30:00")
    with pytest.raises(ValueError, match="not a mailings field"):
        parse_map(["x=nonsense"], "mailings")


def test_recipients_link_persons_and_report_unknown_mailings(db, tmp_path):
    import_csv("persons", write(tmp_path, "p.csv", "id;name;company;email\n1;Anna Müller;ACME;anna@example.com\n"),
               account="acme")
    import_csv("mailings", write(tmp_path, "m.csv", "code,name,account\nm1,First,acme\n"))
    text = (
        "mailing,email,token,name\n"
        "m1,ANNA@example.com,tok-a,\n"
        "m1,new@example.com,tok-b,New Person\n"
        "m2,x@example.com,,\n"
        "m1,not-an-address,,\n"
        "m1,third@example.com,tok-a,\n"
    )
    report = import_csv("recipients", write(tmp_path, "r.csv", text))
    assert report.result.created == 2 and report.result.addresses == 1
    assert sorted(p.split(": ", 1)[0] for p in report.problems) == ["r.csv:4", "r.csv:5", "r.csv:6"]
    assert "unknown mailing 'm2'" in " ".join(report.problems)
    rows = {r.email: r for r in Recipient.select()}
    assert set(rows) == {"anna@example.com", "new@example.com"}
    anna = rows["anna@example.com"]
    assert (anna.name, anna.company, anna.token, anna.person.external_id) == ("Anna Müller", "ACME", "tok-a", "1")
    assert rows["new@example.com"].name == "New Person"
    assert rows["new@example.com"].address.account.name == "acme"
    # importing the same file again changes nothing but the counts say "updated"
    again = import_csv("recipients", write(tmp_path, "r.csv", text))
    assert (again.result.created, again.result.updated) == (0, 2)
    assert Recipient.select().count() == 2 and Account.select().count() == 1


def test_windows_1252_file_and_cli(db_url, tmp_path, capsys):
    path = write(tmp_path, "w.csv", "id;Vorname;Nachname;Email\n1;Jürgen;Groß;j@example.de\n", "cp1252")
    assert main(["--db", db_url, "import", "persons", path]) == 0
    out = capsys.readouterr()
    assert "1 person created" in out.out and "0 warnings" in out.out
    assert Person.get().full_name == "Jürgen Groß"
    assert main(["--db", db_url, "import", "persons", str(tmp_path / "missing.csv")]) == 2
    assert main(["--db", db_url, "import", "persons", path, "--map", "bad"]) == 2


def test_an_empty_or_binary_file_is_one_clear_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'i.db'}"
    empty = write(tmp_path, "e.csv", "")
    assert main(["--db", url, "import", "persons", str(empty)]) == 2
    assert capsys.readouterr().err == f"bouncedesk import: {empty}: empty file (no header row)\n"
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x1b[31mred\x9b2J,\x07x\n1,2\n")
    assert main(["--db", url, "import", "persons", str(binary)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "\x1b" not in err and "\x9b" not in err and "\x07" not in err
    assert "\\x1b[31mred" in err
