"""Person details: the person's addresses (failing ones marked ⚠), why each fails, their history.

Opened with Enter on a row of the recipients, blocked or complaints list.
Moving the cursor to an address, or hovering it with the mouse, shows why it
fails under the table: category, SMTP status, the remote server's diagnostic
verbatim, the rule that blocked it, the DNS verdict.  ``e`` edits the
highlighted address (validated first, see ``tui.dialogs.address``) and saving
clears its bounce state; ``f`` marks the person as a former employee.  Both
are audit-logged and appear in the history at once.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from models.queries import newest_audit_id
from models.persons import AddressInfo, HistoryPage, PersonDetail, PersonError, address_clash, edit_address, \
    mark_former_employee, person_detail, person_history
from tui.dbthread import db_call, in_thread
from tui.dialogs.address import AddressDialog, AddressEdit
from tui.dialogs.confirm import ConfirmDialog
from tui.widgets.paged_table import format_value
from tui.workers import recoverable
from tui.widgets.title_bar import TitleBar

WARNING = "⚠"
HISTORY_PAGE = 50
ADDRESS_COLUMNS = (("mark", "", 2), ("email", "Address", 34), ("status", "Status", 8), ("n", "Bounces", 7),
                   ("valid", "Validation", 14))
HISTORY_COLUMNS = (("at", "When", 16), ("what", "What", 24), ("detail", "Detail", 80))


_UNREAD = object()


def address_cells(a: AddressInfo) -> list[Text]:
    status = a.status + ("*" if a.global_block else "")
    return [Text(WARNING if a.failing else "", style="bold"), Text(a.email, no_wrap=True, overflow="ellipsis"),
            Text(status), Text(str(a.bounce_count), justify="right"), Text(a.validation_status or "")]


def why_text(a: AddressInfo) -> Text:
    """Why the address fails (or that it does not), every value literal."""
    text = Text()
    text.append(f"{WARNING} " if a.failing else "✓ ", style="bold")
    text.append(a.email, style="bold")
    if a.failing:
        text.append(" fails\n")
    elif a.validation_suggestion:  # not blocked, but probably mistyped: not "fine" (QA)
        text.append(" is not blocked, but did you mean ")
        text.append(a.validation_suggestion, style="bold")
        text.append("?\n")
    else:
        text.append(" is fine\n")
    for label, value in a.why():
        text.append(f"{label}: ", style="bold")
        text.append(value)
        text.append("\n")
    text.rstrip()
    return text


def title_text(p: PersonDetail) -> Text:
    """Name, then what decides whether the person is mailed (consent, former employee), then company and
    account: a narrow terminal cuts the end of the line, and the state must not be what is cut (QA)."""
    text = Text()
    text.append(p.name or f"person {p.id}", style="bold")
    text.append(f" · consent {p.consent or 'none'}")
    if p.former_employee:
        text.append(" · former employee", style="bold")
    for part in (p.company, p.account):
        if part:
            text.append(" · ")
            text.append(part)
    return text


class PersonScreen(Screen[None]):
    """One person; Tab moves between the addresses and the history."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("e", "edit_address", "Edit address", id="person.edit", tooltip="Edit the cursor address"),
        Binding("f", "former_employee", "Former employee", id="person.former",
                tooltip="Set the person as former employee"),
        Binding("escape", "back", "Back", id="person.back"),
    ]

    #: the newest audit entry when the person was last read (``_UNREAD`` before the first read)
    audit_seen: object = _UNREAD

    def __init__(self, person_id: int) -> None:
        super().__init__()
        self.person_id = person_id
        self.detail: PersonDetail | None = None
        self.history: HistoryPage | None = None  # the last page loaded (its streams continue it)
        self.history_rows = 0
        self.history_loading = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield DataTable(id="person-addresses", cursor_type="row")
        with VerticalScroll(id="person-why-box"):  # a long diagnostic scrolls (tab to it, then up/down)
            yield Static("", id="person-why", markup=False)
        yield Static(Text("History (newest first)", style="bold"), id="person-history-title")
        yield DataTable(id="person-history", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    @property
    def addresses(self) -> DataTable:
        return self.query_one("#person-addresses", DataTable)

    def on_mount(self) -> None:
        for key, label, width in ADDRESS_COLUMNS:
            self.addresses.add_column(Text(label), width=width, key=key)
        history = self.query_one("#person-history", DataTable)
        for key, label, width in HISTORY_COLUMNS:
            history.add_column(Text(label), width=width, key=key)
        self.watch(self.addresses, "hover_coordinate", self._hover_moved, init=False)
        self.addresses.focus()
        self.load()

    # -- loading --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="person-load")
    @recoverable("reading the person")
    def load(self) -> None:
        newest = db_call(newest_audit_id)  # before the reads: a write in between shows on the next resume
        detail = db_call(person_detail, self.person_id)
        history = db_call(person_history, self.person_id, HISTORY_PAGE) if detail else None
        self.app.call_from_thread(self.show, detail, history)
        self.audit_seen = newest

    def on_screen_resume(self) -> None:
        """Back from another screen (an undo in the audit log, an action on a list): read the person again
        if anything was written since (the header said "former employee" after its undo, QA)."""
        if self.audit_seen is not _UNREAD:
            self.check_written()

    @work(thread=True, exclusive=True, group="person-written")
    @recoverable("checking for changes")
    def check_written(self) -> None:
        if db_call(newest_audit_id) != self.audit_seen:
            self.app.call_from_thread(self.load)

    def show(self, detail: PersonDetail | None, history: HistoryPage | None) -> None:
        self.detail = detail
        title = self.query_one("#title", Static)
        if detail is None:
            title.update(Text(f"Person {self.person_id} no longer exists."))
            return
        title.update(title_text(detail))
        table = self.addresses
        row = table.cursor_row
        table.clear()
        for a in detail.addresses:
            table.add_row(*address_cells(a), key=str(a.id))
        if detail.addresses:
            table.move_cursor(row=min(max(row, 0), len(detail.addresses) - 1))
        self.show_why()
        hist = self.query_one("#person-history", DataTable)
        hist.clear()
        self.history_rows = 0
        self.add_history(history)

    def add_history(self, page: HistoryPage | None) -> None:
        """Append a page of history lines (the first page after a clear)."""
        self.history = page
        self.history_loading = False
        hist = self.query_one("#person-history", DataTable)
        for line in page.lines if page else []:
            hist.add_row(Text(format_value(line.at)), Text(line.what, no_wrap=True, overflow="ellipsis"),
                         Text(line.detail, no_wrap=True, overflow="ellipsis"), key=f"{line.kind}{line.id}")
        self.history_rows = hist.row_count
        more = "+" if page is not None and page.more else ""
        self.query_one("#person-history-title", Static).update(Text.assemble(
            ("History", "bold"), f" ({self.history_rows}{more} events and audit entries, newest first)"))

    @on(DataTable.RowHighlighted, "#person-history")
    def _history_moved(self, event: DataTable.RowHighlighted) -> None:
        page = self.history
        if page is not None and page.more and not self.history_loading and event.cursor_row >= self.history_rows - 10:
            self.history_loading = True
            self.load_older(page)

    @work(thread=True, group="person-history")
    @recoverable("reading older history")
    def load_older(self, page: HistoryPage) -> None:
        older = db_call(person_history, self.person_id, HISTORY_PAGE, page.events, page.audit)
        self.app.call_from_thread(self._older_loaded, page, older)

    def _older_loaded(self, page: HistoryPage, older: HistoryPage) -> None:
        if page is self.history:  # not reloaded meanwhile
            self.add_history(older)

    # -- why an address fails ------------------------------------------------------------------
    def current_address(self) -> AddressInfo | None:
        if self.detail is None or not self.detail.addresses:
            return None
        row = self.addresses.cursor_row
        return self.detail.addresses[row] if 0 <= row < len(self.detail.addresses) else None

    def show_why(self, a: AddressInfo | None = None) -> None:
        a = a or self.current_address()
        why = self.query_one("#person-why", Static)
        if a is None:
            why.update(Text("This person has no address."))
            self.addresses.tooltip = None
            return
        why.update(why_text(a))

    @on(DataTable.RowHighlighted, "#person-addresses")
    def _address_highlighted(self) -> None:
        self.show_why()

    def _hover_moved(self, coordinate: Coordinate) -> None:
        """The mouse over an address shows its reason (and as a tooltip); leaving it shows the cursor's."""
        if self.detail is None:
            return
        row = coordinate.row
        if 0 <= row < len(self.detail.addresses):
            a = self.detail.addresses[row]
            self.show_why(a)
            self.addresses.tooltip = why_text(a) if a.failing else None
        else:
            self.show_why()

    # -- actions ----------------------------------------------------------------------------------
    def action_edit_address(self) -> None:
        a = self.current_address()
        if a is None:
            self.notify("This person has no address to edit.", severity="warning", markup=False)
            return
        self.edit_flow(a)

    @work(exclusive=True, group="person-edit")
    @recoverable("saving the address")
    async def edit_flow(self, a: AddressInfo) -> None:
        edit: AddressEdit | None = await self.app.push_screen_wait(
            AddressDialog(a.email, clash=lambda text: address_clash(a.id, text)))
        if edit is None:
            return
        try:
            new = await in_thread(self, edit_address, a.id, edit.email, edit.verdict, group="person-save")
        except PersonError as exc:
            self.notify(f"Not saved: {exc}", severity="error", markup=False, timeout=8)
            return
        self.notify(f"Saved {new.email} ({edit.verdict.status}); its bounce state is cleared.", markup=False)
        self.load()

    def action_former_employee(self) -> None:
        if self.detail is not None and self.detail.former_employee:
            self.notify("Already a former employee (undo it from the audit log).", markup=False)
            return
        self.former_flow()

    @work(exclusive=True, group="person-former")
    @recoverable("marking the former employee")
    async def former_flow(self) -> None:
        if self.detail is None:
            return
        name = self.detail.name or f"person {self.person_id}"
        if not await self.app.push_screen_wait(ConfirmDialog(
                "Set as former employee",
                f"Mark {name} as a former employee? Their addresses are left out of new mailings. "
                "This can be undone from the audit log.", 1)):
            return
        n = await in_thread(self, mark_former_employee, self.person_id, group="person-save")
        self.notify("Marked as former employee." if n else "Nothing changed (no address links this person).",
                    markup=False)
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()
