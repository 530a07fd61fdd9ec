"""Exports: CSV formula neutralisation, XLSX readable, JSON Lines exact, audit, no partial files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from models.actions import export_rows
from models.export import FORMULA_STARTS
from models.filters import Target, ViewFilter
from models.schema import AuditLog
from tests import bulk_world
from tests.bulk_world import HOSTILE_DIAG, HOSTILE_NAME


@pytest.fixture
def world(db):
    return bulk_world.build()


def recipients(w) -> ViewFilter:
    return ViewFilter("recipients", mailing_id=w.mailing.id)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_csv_by_filter_neutralises_formulas(world, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert export_rows(Target(recipients(world)), path, "csv") == 6
    rows = read_csv(path)
    assert [r["email"] for r in rows] == ["ok@example.com", "gone@example.org", "full@example.net",
                                         "flaky@example.com", "hostile@example.com", "angry@example.com"]
    by_email = {r["email"]: r for r in rows}
    hostile = by_email["hostile@example.com"]
    assert hostile["name"] == "'" + HOSTILE_NAME
    assert hostile["diagnostic"] == "'" + HOSTILE_DIAG
    assert hostile["company"] == "'\tTab Co"
    assert by_email["gone@example.org"]["company"] == "'+Plus Ltd"
    assert by_email["full@example.net"]["company"] == "'-Minus AG"
    assert by_email["flaky@example.com"]["company"] == "'@At Inc"
    assert by_email["angry@example.com"]["company"] == "'\rCR GmbH"
    assert by_email["ok@example.com"]["company"] == "Analytical Ltd"  # harmless text untouched
    assert by_email["ok@example.com"]["opened"] == "1" and by_email["flaky@example.com"]["opened"] == "0"
    assert by_email["gone@example.org"]["severity"] == "hard"
    assert by_email["gone@example.org"]["mailing"] == "M1"
    # no exported text cell starts with a formula character
    for r in rows:
        for value in r.values():
            assert not value or value[0] not in FORMULA_STARTS


def test_csv_by_ids_and_audit(world, tmp_path: Path) -> None:
    ids = frozenset({world.recipient(world.soft).id, world.recipient(world.ok).id})
    path = tmp_path / "two.csv"
    seen: list[tuple[int, int]] = []
    n = export_rows(Target(recipients(world), ids), path, "csv", progress=lambda d, t: seen.append((d, t)))
    assert n == 2
    assert {r["email"] for r in read_csv(path)} == {"ok@example.com", "full@example.net"}
    assert seen and seen[-1] == (2, 2)
    entry = AuditLog.select().order_by(AuditLog.id.desc()).get()
    details = json.loads(entry.details)
    assert (entry.action, entry.affected, entry.undoable) == ("export", 2, False)
    assert details["path"] == str(path) and details["format"] == "csv"
    assert sorted(details["ids"]) == sorted(ids)


def test_blocked_view_csv_columns(world, tmp_path: Path) -> None:
    path = tmp_path / "blocked.csv"
    assert export_rows(Target(ViewFilter("blocked")), path, "csv") == 2
    rows = {r["email"]: r for r in read_csv(path)}
    gone = rows["gone@example.org"]
    assert (gone["name"], gone["company"], gone["reason"], gone["category"], gone["global_block"]) == (
        "Grace Hopper", "'+Plus Ltd", "userunknown", "unknown_user", "1")
    assert gone["blocked_at"].startswith("2026-11-01")
    assert rows["full@example.net"]["diagnostic"] == "'" + HOSTILE_DIAG


@pytest.mark.parametrize(("view", "sort", "desc"), [("recipients", "name", True), ("recipients", "severity", False),
                                                     ("recipients", "last_event_at", True), ("blocked", "email", True),
                                                     ("blocked", "blocked_reason", False), ("complaints", None, None)])
def test_export_keeps_the_screens_order(world, tmp_path: Path, view: str, sort: str | None, desc: bool | None) -> None:
    """Exported rows come in the order the screen shows them: the operator sorted it so for a reason."""
    from models.queries import offset_page, view_spec

    f = recipients(world) if view == "recipients" else ViewFilter(view)
    if view == "complaints":  # a second, later complaint: the default order is the newest first
        from models.schema import Event

        Event.create(account=world.acc, mailing=world.mailing, address=world.ok, email=world.ok.email,
                     kind="complaint", category="complaint", blame="recipient", feedback_type="abuse",
                     dedupe_key="c2", occurred_at=bulk_world.T0.replace(day=2))
    spec = view_spec(view)
    sort, desc = sort or spec.default_sort, spec.default_desc if desc is None else desc
    at = [c.key for c in spec.columns].index("email")
    page = offset_page(f, sort, desc, limit=1000)
    assert len(page) > 1
    path = tmp_path / "sorted.jsonl"
    for target in (Target(f, sort=sort, desc=desc), Target(f, ids=frozenset(r.id for r in page), sort=sort, desc=desc)):
        assert export_rows(target, path, "jsonl") == len(page)
        emails = [json.loads(line)["email"] for line in path.read_text().splitlines()]
        assert emails == [r.values[at] for r in page]


def test_blocked_rows_of_all_accounts_name_their_account(world, tmp_path: Path) -> None:
    """The Blocked screen lists every account's addresses: the export must say whose each one is."""
    from models.address_state import set_state
    from tests import factories

    elsewhere = factories.person(world.other, "gone@example.org", name="Grace Hopper")
    set_state(elsewhere.id, status="blocked", blocked_reason="userunknown", blocked_category="unknown_user",
              blocked_at=bulk_world.T0, blocked_cause="hard bounce")
    path = tmp_path / "blocked.csv"
    assert export_rows(Target(ViewFilter("blocked")), path, "csv") == 3
    rows = read_csv(path)
    assert list(rows[0])[:2] == ["account", "email"]
    assert sorted((r["account"], r["email"]) for r in rows) == [
        ("acme", "full@example.net"), ("acme", "gone@example.org"), ("other", "gone@example.org")]


def test_xlsx_is_readable_and_safe(world, tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    assert export_rows(Target(recipients(world)), path, "xlsx") == 6
    ws = load_workbook(path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert header[:4] == ("mailing", "email", "name", "company")
    assert len(data) == 6
    hostile = next(r for r in data if r[1] == "hostile@example.com")
    assert hostile[2] == HOSTILE_NAME  # typed text cells: kept exactly, no quote as in CSV
    assert any(v.startswith("=") for v in hostile if isinstance(v, str))
    for row in load_workbook(path).active.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"  # nothing became a formula


def test_xlsx_keeps_error_codes_as_text(world, tmp_path: Path) -> None:
    from models.schema import Recipient

    Recipient.update(diagnostic="#N/A").where(Recipient.id == world.recipient(world.ok).id).execute()
    path = tmp_path / "codes.xlsx"
    export_rows(Target(recipients(world)), path, "xlsx")
    cells = [c for row in load_workbook(path).active.iter_rows(min_row=2) for c in row if c.value == "#N/A"]
    assert cells and all(c.data_type == "s" for c in cells)


def test_xlsx_drops_control_characters(world, tmp_path: Path) -> None:
    from models.schema import Recipient

    Recipient.update(diagnostic="bad\x01\x07byte").where(Recipient.id == world.recipient(world.ok).id).execute()
    path = tmp_path / "ctl.xlsx"
    export_rows(Target(recipients(world)), path, "xlsx")
    rows = list(load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    assert rows[1][11] == "bad\ufffd\ufffdbyte"


def test_jsonl_is_valid_and_exact(world, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert export_rows(Target(recipients(world)), path, "jsonl") == 6
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 6
    hostile = next(r for r in records if r["email"] == "hostile@example.com")
    assert hostile["name"] == HOSTILE_NAME  # JSON keeps the value exactly
    assert hostile["diagnostic"] == HOSTILE_DIAG
    assert next(r for r in records if r["email"] == "ok@example.com")["opened"] is True
    assert next(r for r in records if r["email"] == "flaky@example.com")["opened"] is False


def test_complaints_jsonl(world, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    assert export_rows(Target(ViewFilter("complaints")), path, "jsonl") == 1
    rec = json.loads(path.read_text())
    assert (rec["account"], rec["email"], rec["name"], rec["mailing"], rec["feedback_type"]) == (
        "acme", "angry@example.com", "Carl Sagan", "M1", "abuse")


def test_cancelled_export_leaves_no_file(world, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    out.mkdir()
    path = out / "cancel.csv"

    def cancel(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_rows(Target(recipients(world)), path, "csv", progress=cancel)
    assert list(out.iterdir()) == []
    assert not AuditLog.select().where(AuditLog.action == "export").exists()


def test_cancelled_xlsx_export_leaves_no_temp_copy_of_the_rows(world, tmp_path: Path) -> None:
    """openpyxl streams a write-only sheet to a temp file it deletes only at exit: the rows would stay in /tmp."""
    from openpyxl.worksheet._writer import ALL_TEMP_FILES

    before = set(ALL_TEMP_FILES)

    def cancel(done: int, total: int) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "exports"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        export_rows(Target(recipients(world)), out / "cancel.xlsx", "xlsx", progress=cancel)
    left = set(ALL_TEMP_FILES) - before
    assert not [f for f in left if Path(f).exists()]
    assert list(out.iterdir()) == []


def test_a_name_of_255_characters_can_be_exported(world, tmp_path: Path) -> None:
    path = tmp_path / ("x" * 251 + ".csv")
    assert export_rows(Target(recipients(world)), path, "csv") > 0 and path.exists()


def test_no_export_file_stays_without_its_audit_entry(world, tmp_path: Path, monkeypatch) -> None:
    from peewee import OperationalError

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("models.actions.audit.log", locked)
    out = tmp_path / "exports"
    out.mkdir()
    with pytest.raises(OperationalError):
        export_rows(Target(recipients(world)), out / "x.csv", "csv")
    assert list(out.iterdir()) == []


def test_bad_format_and_folder(world, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_rows(Target(recipients(world)), tmp_path / "x.pdf", "pdf")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_rows(Target(recipients(world)), tmp_path / "missing" / "x.csv", "csv")


HOSTILE_ALPHABET = "=+-@\t\r\n,\"' aé€;"


def _expected_cell(value: str) -> str:
    return "'" + value if value[:1] in FORMULA_STARTS else value


def test_csv_neutralises_exactly_the_formula_cells(world, tmp_path: Path) -> None:
    """Random outside text in every text column: formula cells get a quote, all others come back unchanged."""
    import random

    from models.schema import Recipient

    rng = random.Random(20261123)

    def text() -> str:
        return "".join(rng.choice(HOSTILE_ALPHABET) for _ in range(rng.randint(0, 6)))

    rows = []
    for i in range(300):
        values = {"name": text(), "company": text(), "severity": text(), "category": text(), "reason": text(),
                  "blame": text(), "smtp_status": text(), "diagnostic": text()}
        Recipient.create(mailing=world.mailing, email=f"r{i}@example.com", status="bounced", **values)
        rows.append((f"r{i}@example.com", values))
    path = tmp_path / "random.csv"
    export_rows(Target(recipients(world)), path, "csv")
    got = {r["email"]: r for r in read_csv(path)}
    for email, values in rows:
        for column, value in values.items():
            # csv turns a lone CR or CRLF inside a quoted field back as written; compare exactly
            assert got[email][column] == _expected_cell(value), (email, column, value)
    formula_cells = sum(v[:1] in FORMULA_STARTS for _e, values in rows for v in values.values())
    assert formula_cells > 100  # the sample really exercises the rule
