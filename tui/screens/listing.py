"""What the list screens (recipients, blocked, complaints) share: one paged table and its keys.

A list screen shows ``PagedTable`` over a ``ViewFilter`` built by
``view_filter()``, with a status line (row count, selection, sort, search,
drilled-in group), a search box (``/``), a group-by view (``g``, Enter drills
in) and the selection keys.  The row count and the group counts load in their
own workers, so the first page never waits for a ``count(*)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from models.filters import Target, ViewFilter
from models.queries import count, counts_by, newest_audit_id
from tui.actions import BulkActionsMixin
from tui.dbthread import db_call
from tui.widgets.paged_table import PagedTable, format_value
from tui.workers import recoverable
from tui.widgets.title_bar import TitleBar

#: Searches and counts of views without an exact index are capped at this many rows.
COUNT_CAP = 100_000
_UNREAD = object()


class ListScreen(Screen, BulkActionsMixin):
    """Base of the list screens; subclasses set ``VIEW``/``TITLE`` and build ``view_filter()``.

    ``Screen`` comes first: Textual takes a class's CSS type names from its first
    DOM base, so with the mixin first ``Screen``'s own CSS (an opaque
    ``$background``, the ANSI colours) did not apply, the screen was transparent
    and every paint also rendered the screen below it (a third of the time of
    the recipients' first screen).
    """

    VIEW = "recipients"
    TITLE = ""
    BINDINGS = [
        Binding("space", "toggle_row", "Select", id="list.toggle", tooltip="Select or unselect the cursor row"),
        Binding("asterisk", "select_all", "All", id="list.select_all", tooltip="Select all rows of the filter"),
        Binding("u", "clear_selection", "Unselect", id="list.clear_selection", show=False,
                tooltip="Unselect every row"),
        Binding("slash", "search", "Search", id="list.search", tooltip="Search by address, name or company"),
        Binding("t", "sort_next", "Sort", id="list.sort", tooltip="Sort by the next column"),
        Binding("T", "sort_reverse", "Reverse sort", id="list.reverse", show=False,
                tooltip="Reverse the sort order"),
        Binding("g", "group", "Group", id="list.group", show=False,  # the footer keeps room for ? Help at 80
                tooltip="Group by the cursor column: a count per value"),
        Binding("escape", "back", "Back", id="list.back", show=False),
        Binding("r", "refresh", "Refresh", id="list.refresh", show=False, tooltip="Refresh: read the rows again"),
    ]

    #: Seconds the status line waits for a new filter's or sort's first rows (to be painted in the
    #: same frame as them) before it is painted alone.
    STATUS_HOLD = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.status_hold: Timer | None = None
        self.paint_when_ready = False  # see _on_idle
        self.search: str | None = None
        self.extra: tuple[tuple[str, Any], ...] = ()
        self.total: int | None = None
        self.counts_wanted: ViewFilter | None = None  # counted once the first page is shown
        #: The newest audit entry when the rows were read (``_UNREAD`` before that): every write the
        #: operator can make elsewhere (the person screen, another list, an ingest) leaves one.
        self.audit_seen: object = _UNREAD
        self.grouping: str | None = None  # the model column grouped by, while the group view shows
        self.groups: list[tuple[Any, str, int]] = []

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self._rows = PagedTable(self.VIEW, id="rows")
        # The first page's query starts now, in its worker, while the screen mounts (~20-40 ms of
        # composing, styling and laying out): the first paint can then already hold the rows.
        self.counts_wanted = f = self.view_filter()
        self._rows.show(f)
        yield TitleBar()
        yield from self.compose_bar()
        yield self._rows
        yield DataTable(id="groups", cursor_type="row", classes="hidden")
        yield Input(placeholder="Search address or name (Enter to apply, Escape to cancel)", id="search",
                    classes="hidden")
        yield Static(id="status", classes="status")
        yield Footer(compact=True)

    def compose_bar(self) -> ComposeResult:
        """Extra widgets between the title and the table (the recipients' filter bar)."""
        return iter(())

    @property
    def table(self) -> PagedTable:
        return self._rows

    def on_mount(self) -> None:
        groups = self.query_one("#groups", DataTable)
        groups.add_column(Text("Value"), width=40, key="value")
        groups.add_column(Text("Rows"), width=10, key="n")
        self.update_title()
        self.update_status()  # the first page is on its way since compose

    # -- the filter --------------------------------------------------------------------------
    def view_filter(self) -> ViewFilter:
        """The filter of what the screen shows now (subclasses add their own criteria)."""
        raise NotImplementedError

    def scope_filter(self) -> ViewFilter:
        """The filter explicit row ids are resolved in: the view without status or search criteria."""
        return replace(self.view_filter(), statuses=(), search=None, extra=())

    def title_text(self) -> Text:
        return Text(self.TITLE, style="bold")

    def reload_all(self) -> None:
        """Show the current filter from its first row and recount (once the first rows are shown)."""
        f = self.view_filter()
        self.table.show(f)
        self.total = None
        self.update_title()
        self.status_with_rows()
        self.counts_wanted = f

    def status_with_rows(self) -> None:
        """Update the status line when the new rows arrive (a new filter or sort is loading).

        One frame then shows the status and the rows together, instead of a
        frame for the status and, a frame tick (16 ms) or more later, one for
        the rows (which also repainted the whole screen twice).  A slow page
        still gets the new status after ``STATUS_HOLD``, so the key visibly
        took effect.
        """
        if self.status_hold is not None:
            self.status_hold.stop()
        self.status_hold = self.set_timer(self.STATUS_HOLD, self._status_hold_over)

    def _status_hold_over(self) -> None:
        self.status_hold = None
        self.update_status()

    @on(PagedTable.Loaded)
    def _first_page_shown(self, event: PagedTable.Loaded) -> None:
        """Start the counts after the first page is painted.

        Counting a million-row filter takes a worker thread hundreds of
        milliseconds of CPU; run beside the first page it delayed that page's
        paint by as much on a busy 2-core machine (bench/tui.py).  The counts
        show "…" until they arrive either way.
        """
        f, self.counts_wanted = self.counts_wanted, None
        if event.first and f is not None:
            self.call_after_refresh(self.load_counts, f)
        if self.audit_seen is _UNREAD:
            self.call_after_refresh(self.check_written, False)

    @work(thread=True, exclusive=True, group="list-written")
    @recoverable("checking for changes")
    def check_written(self, reload: bool = True) -> None:
        """Whether anything was written since the rows were read (an address edited on the person screen,
        an action on another list): then the visible rows are read again in place, and recounted."""
        self.app.call_from_thread(self._written, db_call(newest_audit_id), reload)

    def _written(self, newest: int | None, reload: bool) -> None:
        seen, self.audit_seen = self.audit_seen, newest
        if reload and seen is not _UNREAD and seen != newest:
            self._reread()  # ``newest`` is already recorded: no second look at the audit log

    def on_screen_resume(self) -> None:
        """Back from another screen or a dialog: read the visible rows again if something was written
        (not while this screen's own action runs: it reloads once when done)."""
        if self.audit_seen is not _UNREAD and not self.acting:
            self.check_written()

    def reload(self, forget_selection: bool = False) -> None:
        """After an action: refresh the visible rows in place and recount (the mixin calls this).

        ``forget_selection`` after an action that changed the selected rows (delete, clear the flag, former
        employee): they were acted on, and some may have left the filter.
        """
        if forget_selection:
            self.table.clear_selection()
        self._reread()
        if self.audit_seen is not _UNREAD:
            self.check_written(False)  # what is shown now includes every write so far

    def _reread(self) -> None:
        """The visible rows read again in place, and the rows recounted."""
        self.table.refresh_rows()
        self.load_counts(self.view_filter())

    @work(thread=True, exclusive=True, group="counts")
    @recoverable("counting rows")
    def load_counts(self, f: ViewFilter) -> None:
        n = db_call(count, f, COUNT_CAP if f.search else None)
        self.app.call_from_thread(self.counts_loaded, f, n)

    def counts_loaded(self, f: ViewFilter, n: Any) -> None:
        if f == self.view_filter():
            self.total = n
            self.update_status()

    def update_title(self) -> None:
        self.query_one("#title", Static).update(self.title_text(), layout=False)  # one line, always

    def update_status(self) -> None:
        table = self.table
        parts: list[str] = []
        if self.total is None:
            parts.append("Rows: …")
        else:
            plus = "+" if self.total > COUNT_CAP else ""
            parts.append(f"Rows: {min(self.total, COUNT_CAP) if plus else self.total:,}{plus}")
        if table.all_selected:
            parts.append("Selected: all" + (f" {self.total:,}" if self.total is not None else "") + " in filter")
        else:
            parts.append(f"Selected: {len(table.selected):,}")
        col = table.spec.column(table.sort)
        parts.append(f"Sort: {col.label} {'▼' if table.desc else '▲'}")
        if self.search:
            parts.append(f"Search: {self.search}")
        for column, value in self.extra:
            parts.append(f"{column} = {format_value(value) or '(empty)'}")
        self.query_one("#status", Static).update(Text(" · ".join(parts)), layout=False)  # one line, always

    # -- selection (the mixin's contract) -----------------------------------------------------
    def current_target(self) -> Target | None:
        """The selected rows, or every row of the filter after ``*``; None when nothing is selected."""
        table = self.table
        if table.all_selected:
            return Target(filter=self.view_filter(), sort=table.sort, desc=table.desc)
        if table.selected:
            return Target(filter=self.scope_filter(), ids=frozenset(table.selected), sort=table.sort, desc=table.desc)
        return None

    def action_toggle_row(self) -> None:
        if not self.table.toggle_current() and self.table.all_selected:
            self.notify("Every row of the filter is selected; press u to clear.", markup=False)

    def action_select_all(self) -> None:
        self.table.select_all()

    def action_clear_selection(self) -> None:
        self.table.clear_selection()

    @on(PagedTable.SelectionChanged)
    @on(PagedTable.Loaded)
    def _table_changed(self, event: PagedTable.SelectionChanged | PagedTable.Loaded) -> None:
        if isinstance(event, PagedTable.Loaded):
            self.paint_when_ready = True
            if event.first and self.status_hold is not None:
                self.status_hold.stop()
                self.status_hold = None
        self.update_status()

    async def _on_idle(self, event: events.Idle) -> None:
        """Paint rows that just arrived as soon as the table has taken them in.

        Textual paints a screen at the ticks of a 60 Hz timer that is paused
        while nothing changes; resumed, it ticks on its own grid, up to 16 ms
        (after a recent paint, up to 33 ms) later, and a tick that comes while
        the table is still taking in its rows (its size, then a layout) paints
        half the change and waits for the next.  Here, after a page arrived,
        the screen paints (``_on_timer_update``, what the tick calls) as soon
        as no widget has a size or layout pending, with every widget that
        waits for a repaint (the status line and filter bar updated for the
        same page), so they all come out in one frame, at once.  Anything else
        keeps the timer's pace.  (Textual internals, as ``PagedTable`` uses;
        textual is pinned below 9.)
        """
        if self.paint_when_ready and self.is_current and not self.app._batch_count:
            shown = [widget for widget in self.walk_children(with_self=False) if widget.display]
            if not any(widget._layout_required or getattr(widget, "_require_update_dimensions", False)
                       for widget in shown):
                self._dirty_widgets.update(widget for widget in shown if widget._repaint_required)
                if self._layout_required or self._dirty_widgets or self._repaint_required:
                    self.paint_when_ready = False
                    self._on_timer_update()
        # Screen's own _on_idle runs next (Textual calls each class's handler in turn).

    # -- sort ------------------------------------------------------------------------------
    def action_sort_next(self) -> None:
        self.table.sort_next()
        self.status_with_rows()

    def action_sort_reverse(self) -> None:
        self.table.reverse()
        self.status_with_rows()

    @on(DataTable.HeaderSelected, "#rows")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key and key != "_sel":
            if self.table.sort_by(key):
                self.status_with_rows()
            else:
                label = self.table.spec.column(key).label
                self.notify(f"{label} is shown, not sortable: no index orders the rows by it.", markup=False)

    # -- search ----------------------------------------------------------------------------
    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = self.search or ""
        box.remove_class("hidden")
        box.focus()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.search = event.value.strip() or None
        self._close_search()
        self.reload_all()

    def _close_search(self) -> None:
        self.query_one("#search", Input).add_class("hidden")
        self.table.focus()

    # -- group by --------------------------------------------------------------------------
    def action_group(self) -> None:
        col = self.table.current_column()
        if col is None or col.group is None:
            label = col.label if col else "this column"
            self.notify(f"Cannot group by {label}: move the cursor to another column.", markup=False)
            return
        self.grouping = col.group
        groups = self.query_one("#groups", DataTable)
        groups.clear()
        groups.columns["value"].label = Text(col.label)
        self.query_one("#rows").add_class("hidden")
        groups.remove_class("hidden")
        groups.focus()
        self.load_groups(self.view_filter(), col.group)

    @work(thread=True, exclusive=True, group="groups")
    @recoverable("grouping rows")
    def load_groups(self, f: ViewFilter, group: str) -> None:
        rows = db_call(counts_by, f, group)
        self.app.call_from_thread(self.groups_loaded, f, group, rows)

    def groups_loaded(self, f: ViewFilter, group: str, rows: list[tuple[Any, str, int]]) -> None:
        if group != self.grouping or f != self.view_filter():
            return
        self.groups = rows
        table = self.query_one("#groups", DataTable)
        table.clear()
        for i, (_value, label, n) in enumerate(rows):
            table.add_row(Text(label or "(empty)"), Text(f"{n:,}", justify="right"), key=str(i))

    @on(DataTable.RowSelected, "#groups")
    def _group_chosen(self, event: DataTable.RowSelected) -> None:
        index = int(event.row_key.value or 0)
        if self.grouping is None or index >= len(self.groups):
            return
        self.extra = self.extra + ((self.grouping, self.groups[index][0]),)
        self._close_groups()
        self.reload_all()

    def _close_groups(self) -> None:
        self.grouping = None
        self.query_one("#groups").add_class("hidden")
        self.table.remove_class("hidden")
        self.table.focus()

    # -- open and back ------------------------------------------------------------------------
    @on(DataTable.CellSelected, "#rows")
    def _row_chosen(self, event: DataTable.CellSelected) -> None:
        row = self.table.current_row()
        if row is not None:
            self.open_row(row)

    def open_row(self, row: Any) -> None:
        """Enter on a row: the person's details (subclasses may open something else)."""
        if row.person_id is None:
            self.notify("This row has no person.", markup=False)
            return
        try:
            from tui.screens.person import PersonScreen
        except ImportError:
            self.notify("Person details are not available in this build.", severity="warning", markup=False)
            return
        self.app.push_screen(PersonScreen(row.person_id))

    def action_refresh(self) -> None:
        """Read the list again from its first row (new rows from an ingest; after a failed read)."""
        self.reload_all()

    def action_back(self) -> None:
        """Escape: close the search box, the group view, the drill-in, the search; then leave."""
        if not self.query_one("#search", Input).has_class("hidden"):
            self._close_search()
        elif self.grouping is not None:
            self._close_groups()
        elif self.extra:
            self.extra = self.extra[:-1]
            self.reload_all()
        elif self.search:
            self.search = None
            self.reload_all()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()


class AccountListScreen(ListScreen):
    """A list screen over one account or all of them; ``a`` switches the account app-wide."""

    BINDINGS = [Binding("a", "next_account", "Account", id="list.account", tooltip="Show the next account's rows")]

    def title_text(self) -> Text:
        return Text.assemble((self.TITLE, "bold"), " · ", self.app.account_label())

    def action_next_account(self) -> None:
        self.app.next_account()
        self.reload_all()

    def on_screen_resume(self) -> None:
        """Another screen may have switched the account meanwhile (Textual also calls ``ListScreen``'s
        handler, which reads the rows again if something was written)."""
        if self.table.filter is not None and self.table.filter.account_id != self.app.account_id:
            self.reload_all()
