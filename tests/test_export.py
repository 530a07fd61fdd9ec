"""Exports: CSV formula neutralisation, XLSX readable, JSON Lines exact, audit, no partial files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_xlsx_is_readable_and_safe(world, tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    assert export_rows(Target(recipients(world)), path, "xlsx") == 6
    ws = load_workbook(path, read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert header[:4] == ("mailing", "email", "name", "company")
    assert len(data) == 6
    hostile = next(r for r in data if r[1] == "hostile@example.com")
    assert hostile[2] == "'" + HOSTILE_NAME
    for cell in next(load_workbook(path).active.iter_rows(min_row=6, max_row=6)):
        assert cell.data_type != "f"  # nothing became a formula


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
    assert (rec["email"], rec["name"], rec["mailing"], rec["feedback_type"]) == (
        "angry@example.com", "Carl Sagan", "M1", "abuse")


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


def test_bad_format_and_folder(world, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_rows(Target(recipients(world)), tmp_path / "x.pdf", "pdf")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_rows(Target(recipients(world)), tmp_path / "missing" / "x.csv", "csv")


def _csv_roundtrip(tmp_path: Path, batches: list[list[tuple]], text_columns: list[int]) -> list[list[str]]:
    from models.export import _write_csv

    path = tmp_path / "t.csv"
    headers = [f"c{i}" for i in range(len(batches[0][0]))]
    assert _write_csv(path, headers, iter(batches), lambda n: None, text_columns) == sum(map(len, batches))
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == headers
    return rows[1:]


def _expected(row: tuple, text_columns: list[int]) -> list[str]:
    out = []
    for i, v in enumerate(row):
        v = "" if v is None else str(v)
        out.append("'" + v if i in text_columns and v[:1] in FORMULA_STARTS else v)
    return out


def test_csv_check_finds_formula_cells_anywhere_and_only_there(tmp_path: Path) -> None:
    text = [0, 1, 3]
    clean = [("a", "b", 7, "x, y"), ("ok", "multi\nline", -3, 'say "hi"')]
    hostile_batches = [
        [("=1+1", "b", 1, "c")],  # first field of a row
        [("a", "b", 2, "-minus")],  # last field
        [("a", "+plus, with comma", 3, "c")],  # quoted field
        [("a", "\tTab", 4, "c")],
        [("a", "\rCR", 5, "c")],
        [("a", "@sum(A1)", 6, "c")],
        [("a", "b", -8, "text, then =not at start")],  # non-text negative number; '=' inside a field
    ]
    batches = [clean, *hostile_batches, clean]
    rows = _csv_roundtrip(tmp_path, batches, text)
    expected = [_expected(r, text) for batch in batches for r in batch]
    assert rows == expected
    assert rows[-3][2] == "-8" and rows[-3][3] == "text, then =not at start"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=12)),
                          st.integers(-5, 5), st.text(alphabet="=+-@\t\r\n,\"' ab", max_size=8)),
                min_size=1, max_size=20))
def test_csv_neutralises_exactly_the_formula_cells(rows: list[tuple]) -> None:
    import tempfile

    text = [0, 1, 3]
    with tempfile.TemporaryDirectory() as tmp:
        got = _csv_roundtrip(Path(tmp), [rows[: len(rows) // 2] or rows, rows[len(rows) // 2:] or rows], text)
    batches = [rows[: len(rows) // 2] or rows, rows[len(rows) // 2:] or rows]
    assert got == [_expected(r, text) for batch in batches for r in batch]
