"""The mailings of the chosen account with sent, delivered, opened, bounced and complained rates."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from models.filters import ViewFilter
from models.queries import Column, MailingStats, Row, mailing_stats
from tui.dbthread import db_call
from tui.widgets.paged_table import PagedTable
from tui.workers import recoverable
from tui.widgets.title_bar import TitleBar

#: The numbers next to each mailing: (stat, header); the rate of each is a fraction of "sent".
STAT_COLUMNS: tuple[tuple[str, Column], ...] = (
    ("sent", Column("stat_sent", "Sent", 7, numeric=True)),
    ("delivered", Column("stat_delivered", "Deliv.", 6, numeric=True)),
    ("opened", Column("stat_opened", "Opened", 6, numeric=True)),
    ("bounced", Column("stat_bounced", "Bounced", 7, numeric=True)),
    ("complained", Column("stat_complained", "Compl.", 6, numeric=True)),
)


def stat_cell(stats: MailingStats | None, stat: str) -> Text:
    """The count for "sent", a rate for the others (the counts are on the status line)."""
    if stats is None:
        return Text("…", justify="right")
    if stat == "sent":
        return Text(f"{stats.sent:,}", justify="right")
    rate = stats.rate(stat)
    return Text("-" if rate is None else f"{rate:.1%}", justify="right")


def stats_line(name: str, stats: MailingStats | None) -> Text:
    """Every count of the cursor's mailing, for the status line."""
    if stats is None:
        return Text(name)
    return Text(f"{name}: sent {stats.sent:,} · delivered {stats.delivered:,} · opened {stats.opened:,} · "
                f"bounced {stats.bounced:,} · complained {stats.complained:,} · pending {stats.pending:,}")


class MailingsTable(PagedTable):
    """The paged mailings plus their numbers, which load per page in a second worker."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__("mailings", id=id)
        self.stats: dict[int, MailingStats] = {}

    def add_extra_columns(self) -> None:
        for _stat, col in STAT_COLUMNS:
            self.add_column(Text(col.label, justify="right"), width=col.width, key=col.key)

    def _cells(self, row: Row) -> list[Text]:
        stats = self.stats.get(row.id)
        return super()._cells(row) + [stat_cell(stats, stat) for stat, _col in STAT_COLUMNS]

    def show_stats(self, stats: dict[int, MailingStats]) -> None:
        self.stats.update(stats)
        for row in self.window:
            if row.id in stats:
                for stat, col in STAT_COLUMNS:
                    self.update_cell(str(row.id), col.key, stat_cell(stats[row.id], stat))


class MailingsScreen(Screen):
    """Mailings newest first; Enter opens the recipients, ``a`` switches the account."""

    TITLE = "Mailings"
    BINDINGS = [
        Binding("enter", "open", "Recipients", id="mailings.open", tooltip="Open the mailing's recipients"),
        Binding("a", "next_account", "Account", id="mailings.account", tooltip="Show the next account's mailings"),
        Binding("t", "sort_next", "Sort", id="mailings.sort", tooltip="Sort by the next column"),
        Binding("T", "sort_reverse", "Reverse", id="mailings.reverse", show=False),
        Binding("r", "refresh", "Refresh", id="mailings.refresh", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield MailingsTable(id="rows")
        yield Static(id="status", classes="status")
        yield Footer(compact=True)

    @property
    def table(self) -> MailingsTable:
        return self.query_one("#rows", MailingsTable)

    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self.table.filter is not None and self.table.filter.account_id != self.app.account_id:
            self.reload()

    def view_filter(self) -> ViewFilter:
        return ViewFilter("mailings", account_id=self.app.account_id)

    def action_refresh(self) -> None:
        """Read the mailings and their counts again (after an ingest, or a failed read)."""
        self.table.stats.clear()
        self.reload()

    def reload(self) -> None:
        self.query_one("#title", Static).update(
            Text.assemble(("Mailings", "bold"), " · ", self.app.account_label()))
        self.table.show(self.view_filter())

    @on(PagedTable.Loaded)
    def _page_loaded(self, event: PagedTable.Loaded) -> None:
        ids = [r.id for r in self.table.window if r.id not in self.table.stats]
        if ids:
            self.load_stats(ids)
        self._update_status()

    @work(thread=True, group="stats")
    @recoverable("reading mailing counts")
    def load_stats(self, ids: list[int]) -> None:
        stats = db_call(mailing_stats, ids)
        self.app.call_from_thread(self._stats_loaded, stats)

    def _stats_loaded(self, stats: dict[int, MailingStats]) -> None:
        self.table.show_stats(stats)
        self._update_status()

    @on(DataTable.CellHighlighted, "#rows")
    def _update_status(self) -> None:
        row = self.table.current_row()
        text = stats_line(row.values[0], self.table.stats.get(row.id)) if row else Text("No mailings.")
        self.query_one("#status", Static).update(text)

    @on(DataTable.CellSelected, "#rows")
    def action_open(self) -> None:
        from tui.screens.recipients import RecipientsScreen

        row = self.table.current_row()
        if row is not None:
            self.app.push_screen(RecipientsScreen(row.id, mailing_name=row.values[0]))

    def action_next_account(self) -> None:
        self.app.next_account()
        self.reload()

    def action_sort_next(self) -> None:
        self.table.sort_next()

    def action_sort_reverse(self) -> None:
        self.table.reverse()

    @on(DataTable.HeaderSelected, "#rows")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in ("name", "sent_at"):
            self.table.sort_by(key)
