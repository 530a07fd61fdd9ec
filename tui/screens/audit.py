"""The audit log: what was done, by whom, when, why, how many rows; its items; undo.

Entries are read newest first in keyset pages (``models.queries.audit_page``)
and the next page is fetched in a thread worker when the cursor nears the
end.  The line under the table shows the highlighted entry's cause and
details in full (they are cut in the table).  Enter opens the entry's items;
``S`` opens the rule settings (the command palette offers it everywhere);
``z`` undoes an undoable entry after a confirmation that states its row
count, and refuses with the reason (not undoable, already undone) otherwise.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from models.actions import ActionError, undo
from models.audit_log import audit_entry, details_text, undo_note, undo_refusal
from models.queries import PAGE_SIZE, Cursor, audit_page
from models.schema import AuditLog
from models.text import count_text
from tui.commands_palette import EXTRA_COMMANDS, PaletteCommand
from tui.dbthread import db_call, in_thread
from tui.dialogs.confirm import ConfirmDialog
from tui.widgets.paged_table import format_value
from tui.workers import recoverable
from tui.widgets.title_bar import TitleBar

#: (key, header, width) of the table; the cause takes what is left of 80 columns.
COLUMNS = (("at", "When", 16), ("by", "By", 8), ("action", "Action", 24), ("n", "Rows", 5),
           ("undo", "Undo", 6), ("cause", "Cause", 60))


def undo_state(entry: AuditLog) -> Text:
    """'undone', 'z' (can be undone) or nothing, for the Undo column."""
    if entry.undo_of is not None:
        return Text(f"of #{entry.undo_of}", style="dim")
    if entry.undone_at is not None:
        return Text("undone", style="dim")
    if undo_refusal(entry) is None:
        return Text("z", style="bold")
    return Text("")


def entry_cells(entry: AuditLog) -> list[Text]:
    """One table row: every value literal (causes quote addresses and diagnostics)."""
    return [Text(format_value(entry.at)), Text(entry.os_user or "", overflow="ellipsis", no_wrap=True),
            Text(entry.action, overflow="ellipsis", no_wrap=True), Text(f"{entry.affected:,}", justify="right"),
            undo_state(entry), Text(entry.cause or "", overflow="ellipsis", no_wrap=True)]


async def undo_with_confirm(screen: Screen, audit_id: int) -> bool:
    """Refuse with the reason, or confirm and undo entry ``audit_id``; True when it was undone.

    Runs inside an async worker of ``screen`` (it waits for the confirm dialog).
    """
    app = screen.app
    entry = await in_thread(screen, audit_entry, audit_id, group="audit-read")
    if entry is None:
        app.notify(f"Audit entry {audit_id} no longer exists.", severity="warning", markup=False)
        return False
    refusal = undo_refusal(entry)
    if refusal is not None:
        app.notify(f"Cannot undo: {refusal}.", severity="warning", markup=False, timeout=8)
        return False
    question = f"Undo #{entry.id} {entry.action} of {format_value(entry.at)} by {entry.os_user}?\n{entry.cause}"
    if not await app.push_screen_wait(ConfirmDialog("Undo", question, entry.affected, confirm_label="Undo")):
        return False
    try:
        n = await in_thread(screen, undo, audit_id, group="audit-undo-run")
    except ActionError as exc:  # someone else undid it meanwhile
        app.notify(f"Cannot undo: {exc}.", severity="warning", markup=False, timeout=8)
        return False
    note = await in_thread(screen, undo_note, audit_id, group="audit-read")
    app.notify(f"Undone: #{audit_id} {entry.action}, {count_text(n, 'row')} restored"
               + (f"; {note}." if note else "."), markup=False, timeout=8 if note else 5)
    return True


class AuditScreen(Screen[None]):
    """Every audit entry, newest first; Enter shows its items, ``z`` undoes."""

    TITLE = "Audit log"
    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("enter", "open_entry", "Items", id="audit.open", priority=True,
                tooltip="Items: the rows the entry changed"),
        Binding("z", "undo", "Undo", id="audit.undo", tooltip="Undo the cursor entry's action"),
        Binding("r", "reload", "Refresh", id="audit.reload", tooltip="Refresh the audit log"),
        Binding("S", "settings", "Settings", id="audit.settings"),
        Binding("escape", "back", "Back", id="audit.back", show=False),
    ]

    #: How close to the last loaded row the cursor gets before the next page is fetched.
    MARGIN = 20

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[AuditLog] = []
        self.at_end = False
        self.generation = 0
        self.loading = False

    def compose(self) -> ComposeResult:
        yield TitleBar(Text("Audit log · newest first", style="bold"))
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="audit-detail", markup=False)
        yield Static("", id="status", classes="status", markup=False)
        yield Footer(compact=True)

    @property
    def table(self) -> DataTable:
        return self.query_one("#audit-table", DataTable)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.table.add_column(Text(label), width=width, key=key)
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Back from another screen or a dialog: reload only when entries were written meanwhile."""
        if self.entries or self.at_end:
            self.check_newer(self.entries[0].id if self.entries else None)

    @work(thread=True, group="audit-newer")
    @recoverable("checking for new entries")
    def check_newer(self, newest: int | None) -> None:
        rows = db_call(audit_page, None, 1)
        if (rows[0].id if rows else None) != newest:
            self.app.call_from_thread(self.action_reload)

    # -- paging ------------------------------------------------------------------------
    def action_reload(self) -> None:
        """Start again from the newest entry."""
        self.generation += 1
        self.entries = []
        self.at_end = False
        self.table.clear()
        self.loading = True
        self.fetch(self.generation, None)

    @work(thread=True, group="audit-page")
    @recoverable("reading the audit log", reset="_page_failed")
    def fetch(self, generation: int, after: Cursor | None) -> None:
        rows = db_call(audit_page, after, PAGE_SIZE)
        self.app.call_from_thread(self.page_loaded, generation, rows)

    def _page_failed(self) -> None:
        """A page could not be read: scrolling on (or ``r``) asks again."""
        self.loading = False

    def page_loaded(self, generation: int, rows: list[AuditLog]) -> None:
        if generation != self.generation:
            return  # a page of a list that was reloaded since
        self.loading = False
        self.at_end = len(rows) < PAGE_SIZE
        for entry in rows:
            self.table.add_row(*entry_cells(entry), key=str(entry.id))
        self.entries.extend(rows)
        self.update_status()
        self.show_detail()

    @on(DataTable.RowHighlighted, "#audit-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()
        if not self.at_end and not self.loading and event.cursor_row >= len(self.entries) - self.MARGIN:
            last = self.entries[-1]
            self.loading = True
            self.fetch(self.generation, Cursor(last.at, last.id))

    def current(self) -> AuditLog | None:
        row = self.table.cursor_row
        return self.entries[row] if self.entries and 0 <= row < len(self.entries) else None

    def show_detail(self) -> None:
        entry = self.current()
        detail = self.query_one("#audit-detail", Static)
        if entry is None:
            detail.update(Text("No audit entries yet." if self.at_end else "Loading…"))
            return
        text = Text()
        text.append(f"#{entry.id} {entry.action}", style="bold")
        text.append(f" · {format_value(entry.at)} · by {entry.os_user} · {count_text(entry.affected, 'row')}\n")
        text.append(entry.cause or "")
        extra = details_text(entry)
        if extra:
            text.append("\n")
            text.append(extra, style="dim")
        detail.update(text)

    def update_status(self) -> None:
        more = "" if self.at_end else "+"
        self.query_one("#status", Static).update(Text(
            f"Entries: {len(self.entries):,}{more} · Enter: items · z: undo the highlighted entry"))

    # -- actions -----------------------------------------------------------------------------
    def action_open_entry(self) -> None:
        entry = self.current()
        if entry is None:
            return
        from tui.screens.audit_entry import AuditEntryScreen

        self.app.push_screen(AuditEntryScreen(entry.id))

    def action_undo(self) -> None:
        entry = self.current()
        if entry is not None:
            self.undo_flow(entry.id)

    @work(exclusive=True, group="audit-undo")
    @recoverable("undo")
    async def undo_flow(self, audit_id: int) -> None:
        if await undo_with_confirm(self, audit_id):
            self.action_reload()

    def action_settings(self) -> None:
        """The rule settings (their changes are audit entries here)."""
        open_settings(self.app)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()


def open_settings(app: App) -> None:
    """Push the settings screen (not on top of itself)."""
    from tui.screens.settings import SettingsScreen

    if not isinstance(app.screen, SettingsScreen):
        app.push_screen(SettingsScreen())


EXTRA_COMMANDS.append(PaletteCommand(
    "Open settings", "The rule settings, with a preview before saving (key 5 anywhere, S on the audit log)",
    open_settings))
