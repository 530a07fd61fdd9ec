"""One audit entry and its items: every row it changed, with the values it overwrote.

Items are read in keyset pages on their id (``models.audit_log.audit_items``);
``z`` undoes the entry from here as on the audit log.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from models.audit_log import audit_entry, audit_items, details_text, undo_refusal
from models.schema import AuditItem, AuditLog
from models.text import count_text
from tui.dbthread import db_call
from tui.screens.audit import undo_with_confirm
from tui.widgets.paged_table import format_value
from tui.workers import recoverable
from tui.widgets.title_bar import TitleBar

PAGE = 100
COLUMNS = (("email", "Address / person", 30), ("status", "Was", 8), ("count", "Bounces", 7),
           ("reason", "Blocked for", 14), ("note", "Note", 60))


def item_cells(item: AuditItem) -> list[Text]:
    """One changed row, literally: what it was before the action."""
    who = item.email or (f"person {item.person_id}" if item.person_id else "")
    was = item.prev_status or ("former" if item.prev_former_employee else
                               "employee" if item.prev_former_employee is False else "")
    if item.prev_global_block:
        was += " (global)"
    count: Any = item.prev_bounce_count
    return [Text(who, overflow="ellipsis", no_wrap=True), Text(was), Text("" if count is None else str(count),
                                                                            justify="right"),
            Text(item.prev_blocked_reason or ""), Text(item.note or "", overflow="ellipsis", no_wrap=True)]


class AuditEntryScreen(Screen[None]):
    """The entry in full, then its items; Escape goes back to the log."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("z", "undo", "Undo", id="audit.undo", tooltip="Undo this entry's action"),
        Binding("escape", "back", "Back", id="audit_entry.back"),
    ]

    def __init__(self, audit_id: int) -> None:
        super().__init__()
        self.audit_id = audit_id
        self.last_item: int | None = None
        self.at_end = False
        self.loading = False
        self.count = 0

    def compose(self) -> ComposeResult:
        yield TitleBar(Text(f"Audit entry #{self.audit_id}", style="bold"))
        yield Static("", id="entry-head", markup=False)
        yield DataTable(id="items-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status", classes="status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(Text(label), width=width, key=key)
        self.load_head()
        self.loading = True
        self.fetch(None)

    @work(thread=True, group="entry-head")
    @recoverable("reading the audit entry")
    def load_head(self) -> None:
        entry = db_call(audit_entry, self.audit_id)
        self.app.call_from_thread(self.show_head, entry)

    def show_head(self, entry: AuditLog | None) -> None:
        head = self.query_one("#entry-head", Static)
        if entry is None:
            head.update(Text("This entry no longer exists."))
            return
        text = Text()
        text.append(f"{entry.action}", style="bold")
        text.append(f" · {format_value(entry.at)} · by {entry.os_user} · {count_text(entry.affected, 'row')}\n")
        text.append(f"Cause: {entry.cause}\n")
        refusal = undo_refusal(entry)
        text.append("Undo: z\n" if refusal is None else f"Undo: {refusal}\n", style="italic")
        extra = details_text(entry)
        if extra:
            text.append(extra, style="dim")
        head.update(text)

    @work(thread=True, group="entry-items")
    @recoverable("reading the affected rows", reset="_items_failed")
    def fetch(self, after: int | None) -> None:
        rows = db_call(audit_items, self.audit_id, after, PAGE)
        self.app.call_from_thread(self.items_loaded, rows)

    def _items_failed(self) -> None:
        """A page of rows could not be read: scrolling on asks again."""
        self.loading = False

    def items_loaded(self, rows: list[AuditItem]) -> None:
        self.loading = False
        self.at_end = len(rows) < PAGE
        table = self.query_one(DataTable)
        for item in rows:
            table.add_row(*item_cells(item), key=str(item.id))
        if rows:
            self.last_item = rows[-1].id
        self.count += len(rows)
        more = "" if self.at_end else "+"
        note = "" if self.count else " (this action keeps no per-row items)"
        self.query_one("#status", Static).update(Text(f"Items: {self.count:,}{more}{note}"))

    @on(DataTable.RowHighlighted)
    def _near_end(self, event: DataTable.RowHighlighted) -> None:
        if not self.at_end and not self.loading and event.cursor_row >= self.count - 20:
            self.loading = True
            self.fetch(self.last_item)

    def action_undo(self) -> None:
        self.undo_flow()

    @work(exclusive=True, group="audit-undo")
    @recoverable("undo")
    async def undo_flow(self) -> None:
        """The audit log's undo (it confirms or refuses), then the head shows the new state."""
        await undo_with_confirm(self, self.audit_id)
        self.load_head()

    def action_back(self) -> None:
        self.app.pop_screen()
