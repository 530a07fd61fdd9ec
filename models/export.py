"""Writing the rows of a view to CSV, XLSX or JSON Lines, streamed.

The columns depend on the view (what an operator needs to act on outside
bouncedesk: address, name, company, status, severity, category, reason,
SMTP status, diagnostic, times).  Rows are read from a database cursor in
batches and written as they come, so a million-row export holds one batch in
memory, never the result.

Spreadsheet safety: a cell starting with ``=``, ``+``, ``-``, ``@``, TAB or CR
is a formula to Excel and LibreOffice ("CSV injection"); bounce diagnostics
and names are outside text, so such text cells get a leading single quote.
The check runs inside the SELECT, as ``CASE WHEN unicode(col) IN (61, 43,
...)`` (``ascii`` on PostgreSQL): comparing the first character's code costs
SQLite a third of ``substr(col, 1, 1) IN ('=', ...)``, which built a string
per cell, and a Python test per cell (or a regex over the formatted CSV)
costs more than the whole rest of the export.
JSON Lines is not read by spreadsheets and keeps the values exactly.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from peewee import JOIN, Case, ModelSelect, Node, Value, fn

from models.address_state import state_or_default
from models.db import database, is_sqlite
from models.filters import Target, base_query
from models.queries import sort_order
from models.schema import Account, Address, AddressState, Company, Event, Mailing, Person, Recipient

Format = Literal["csv", "xlsx", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "jsonl")
Progress = Callable[[int, int], None]

#: First characters that make a spreadsheet cell a formula.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Rows fetched from the cursor per batch (and per progress report).
BATCH_ROWS = 20_000
#: Excel's limits: rows per sheet (with the header) and characters per cell.
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_CELL = 32_767


@dataclass(frozen=True, slots=True)
class Column:
    """One exported column: its header, the expression, and how to treat it."""

    header: str
    expr: Node
    text: bool = True  # outside text: neutralised against formula injection
    boolean: bool = False  # normalised to 1/0 (CSV, XLSX) or true/false (JSON)


def _columns(view: str) -> list[Column]:
    """The exported columns of each view, in order."""
    if view == "recipients":
        return [
            Column("mailing", Mailing.code),
            Column("email", Recipient.email),
            Column("name", Recipient.name),
            Column("company", Recipient.company),
            Column("status", Recipient.status),
            Column("opened", Recipient.opened, text=False, boolean=True),
            Column("severity", Recipient.severity),
            Column("category", Recipient.category),
            Column("reason", Recipient.reason),
            Column("blame", Recipient.blame),
            Column("smtp_status", Recipient.smtp_status),
            Column("diagnostic", Recipient.diagnostic),
            Column("sent_at", Recipient.sent_at, text=False),
            Column("last_event_at", Recipient.last_event_at, text=False),
        ]
    # blocked addresses and complaints are listed across accounts: each row names its account
    # (a recipient's mailing belongs to one account already)
    if view in ("blocked", "addresses"):
        return [
            Column("account", Account.name),
            Column("email", Address.email),
            Column("name", Person.full_name),
            Column("company", Company.name),
            # the state: the defaults for an address without a state row (addresses view)
            Column("status", state_or_default("status")),
            Column("bounce_count", state_or_default("bounce_count"), text=False),
            Column("severity", Address.last_severity),
            Column("category", AddressState.blocked_category),
            Column("reason", AddressState.blocked_reason),
            Column("smtp_status", Address.last_status),
            Column("diagnostic", Address.last_diagnostic),
            Column("global_block", state_or_default("global_block"), text=False, boolean=True),
            Column("blocked_at", AddressState.blocked_at, text=False),
            Column("blocked_cause", AddressState.blocked_cause),
            Column("last_event_at", Address.last_event_at, text=False),
        ]
    if view == "complaints":
        return [
            Column("account", Account.name),
            Column("email", Event.email),
            Column("name", Person.full_name),
            Column("mailing", Mailing.code),
            Column("feedback_type", Event.feedback_type),
            Column("provider", Event.provider),
            Column("reason", Event.reason),
            Column("diagnostic", Event.diagnostic),
            Column("source", Event.source),
            Column("occurred_at", Event.occurred_at, text=False),
        ]
    raise ValueError(f"no export columns for view {view!r}")


#: The code points of ``FORMULA_STARTS``.
FORMULA_CODES: tuple[int, ...] = tuple(ord(c) for c in FORMULA_STARTS)


def _neutralised(expr: Node) -> Node:
    """``expr`` with a leading quote when its first character starts a formula."""
    first = fn.UNICODE(expr) if is_sqlite() else fn.ASCII(expr)
    return Case(None, ((first.in_(FORMULA_CODES), Value("'").concat(expr)),), expr)


def _as_int(expr: Node) -> Node:
    return Case(None, ((expr, 1),), 0)


def export_query(target: Target, *, neutralise: bool, numeric_booleans: bool) -> tuple[list[str], ModelSelect,
                                                                                    list[int]]:
    """Headers, the SELECT of the target's rows (in its screen's order, else by id), and the boolean column positions.

    With ``neutralise`` the text columns are neutralised in SQL (CSV: a
    spreadsheet evaluates a cell starting with = + - @ as it opens the file);
    with ``numeric_booleans`` booleans come out as 1/0 (the same on both backends).
    """
    cols = _columns(target.filter.view)
    exprs: list[Node] = []
    for col in cols:
        e = col.expr
        if neutralise and col.text:
            e = _neutralised(e)
        elif numeric_booleans and col.boolean:
            e = _as_int(e)
        exprs.append(e.alias(col.header))
    model = target.model
    q = base_query(target.filter, *exprs)
    if model is Recipient:
        q = q.join_from(Recipient, Mailing)
    elif model is AddressState:  # blocked: the state rows, with their addresses
        q = (q.join_from(AddressState, Address, on=(Address.id == AddressState.id))
             .join_from(Address, Account, on=(Account.id == Address.account))
             .join_from(Address, Person, JOIN.LEFT_OUTER)
             .join_from(Person, Company, JOIN.LEFT_OUTER))
    elif model is Address:
        q = (q.join_from(Address, AddressState, JOIN.LEFT_OUTER, on=(AddressState.id == Address.id))
             .join_from(Address, Account, on=(Account.id == Address.account))
             .join_from(Address, Person, JOIN.LEFT_OUTER)
             .join_from(Person, Company, JOIN.LEFT_OUTER))
    else:
        q = (q.join_from(Event, Account, JOIN.LEFT_OUTER, on=(Account.id == Event.account))
             .join_from(Event, Person, JOIN.LEFT_OUTER)
             .join_from(Event, Mailing, JOIN.LEFT_OUTER))
    if target.ids is not None:
        q = q.where(model.id.in_(sorted(target.ids)))
    if target.sort is None:
        q = q.order_by(model.id)
    else:  # the operator's order on the screen
        q = q.order_by(*sort_order(target.filter, target.sort, target.desc))
    return [c.header for c in cols], q, [i for i, c in enumerate(cols) if c.boolean]


def stream_rows(query: ModelSelect, batch: int = BATCH_ROWS) -> Iterator[list[tuple]]:
    """The rows of ``query`` in lists of ``batch``, without loading the result.

    SQLite's cursor steps the statement lazily; PostgreSQL needs a server-side
    (named) cursor, else the driver fetches the whole result at once.
    """
    sql, params = query.sql()
    if is_sqlite():
        cursor = database.cursor()
        cursor.arraysize = batch
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()
        return
    with database.atomic():
        with database.connection().cursor(name=f"bd_export_{uuid.uuid4().hex[:12]}") as cursor:
            cursor.itersize = batch
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield rows


def _write_csv(path: Path, headers: Sequence[str], batches: Iterator[list[tuple]], tick: Callable[[int], None]) -> int:
    n = 0
    # utf-8-sig: Excel reads the BOM and shows "Müller" instead of mojibake.
    with open(path, "w", newline="", encoding="utf-8-sig", buffering=1 << 20) as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        for rows in batches:
            writer.writerows(rows)
            n += len(rows)
            tick(n)
    return n


def _xlsx_cell(ws: Any, value: Any) -> Any:
    """A value openpyxl accepts: control characters removed, cell length capped, text kept text.

    XLSX cells are typed, so outside text needs no quote as in CSV: it is
    stored as a string cell as it is.  Only openpyxl itself would turn a
    string starting with ``=`` into a formula, and ``#N/A`` and the other
    error codes into error cells; such cells are typed string.
    """
    if isinstance(value, str):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if len(value) > XLSX_MAX_CELL:
            value = value[: XLSX_MAX_CELL - 1] + "\u2026"
        if value.startswith("=") or value in ERROR_CODES:  # openpyxl's guesses: a formula, an error cell
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            return cell
    return value


def _write_xlsx(path: Path, headers: Sequence[str], batches: Iterator[list[tuple]], tick: Callable[[int], None]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)  # streams rows to a temp file: constant memory
    saved = False
    try:
        sheet_no = 1
        ws = wb.create_sheet("rows")
        ws.append(list(headers))
        in_sheet = 1
        n = 0
        for rows in batches:
            for row in rows:
                if in_sheet >= XLSX_MAX_ROWS:  # Excel's row limit: continue on a new sheet
                    sheet_no += 1
                    ws = wb.create_sheet(f"rows {sheet_no}")
                    ws.append(list(headers))
                    in_sheet = 1
                ws.append([_xlsx_cell(ws, v) for v in row])
                in_sheet += 1
            n += len(rows)
            tick(n)
        wb.save(path)
        saved = True
    finally:
        if not saved:
            _discard_sheets(wb)
    return n


def _discard_sheets(wb: Any) -> None:
    """Remove the temp files of an unsaved write-only workbook (openpyxl keeps them until exit).

    They hold a full copy of the rows written so far: personal data that a
    cancelled or failed export must not leave in ``/tmp``.  openpyxl has no
    public call for this: each sheet is closed (which ends its row generator
    cleanly) and its writer's ``cleanup`` deletes the file.
    """
    for ws in getattr(wb, "_sheets", []):
        with contextlib.suppress(Exception):
            ws.close()
        writer = getattr(ws, "_writer", None)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.cleanup()


def _write_jsonl(path: Path, headers: Sequence[str], batches: Iterator[list[tuple]], tick: Callable[[int], None],
                 booleans: Sequence[int]) -> int:
    n = 0
    dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        for rows in batches:
            lines = []
            for row in rows:
                record = dict(zip(headers, row))
                for i in booleans:
                    if row[i] is not None:
                        record[headers[i]] = bool(row[i])
                lines.append(dumps(record))
            f.write("\n".join(lines))
            f.write("\n")
            n += len(rows)
            tick(n)
    return n


def write_rows(target: Target, path: str | os.PathLike[str], fmt: Format, *, total: int = 0,
               progress: Progress | None = None) -> int:
    """Write the target's rows to ``path`` in ``fmt``; return the number of rows.

    The file is written next to ``path`` under a temporary name and renamed
    when complete, so a failed or cancelled export (``progress`` may raise)
    never leaves a truncated file that looks finished.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (use one of {', '.join(FORMATS)})")
    dest = Path(path)
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"export folder does not exist: {dest.parent}")
    headers, query, booleans = export_query(target, neutralise=fmt == "csv", numeric_booleans=fmt != "jsonl")
    tmp = dest.with_name(f".bouncedesk-{uuid.uuid4().hex[:8]}.part")  # short: any valid name keeps working

    def tick(done: int) -> None:
        if progress is not None:
            progress(done, max(total, done))

    batches = stream_rows(query)
    try:
        if fmt == "csv":
            n = _write_csv(tmp, headers, batches, tick)
        elif fmt == "xlsx":
            n = _write_xlsx(tmp, headers, batches, tick)
        else:
            n = _write_jsonl(tmp, headers, batches, tick, booleans)
        os.replace(tmp, dest)
    finally:
        batches.close()
        tmp.unlink(missing_ok=True)
    return n
