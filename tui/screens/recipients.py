"""The recipients of one mailing, with the filter bar Sent / Bounced / Opened / All / Pending / Complained."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from models.filters import ViewFilter
from models.queries import RECIPIENT_FILTER_HELP, RECIPIENT_FILTERS, mailing_title, recipient_filter_counts
from tui.dbthread import db_call
from tui.screens.listing import ListScreen
from tui.widgets.title_bar import bound_keys
from tui.workers import recoverable

#: filter name -> hotkey (the same letter as the name's first, as the lead fixed them)
FILTER_KEYS = {"sent": "s", "bounced": "b", "opened": "o", "all": "a", "pending": "p", "complained": "c"}


class RecipientsScreen(ListScreen):
    """Every recipient of one mailing, paged; the filter bar shows a count per filter."""

    VIEW = "recipients"
    TITLE = "Recipients"
    # the filter keys are shown in the filter bar, with their counts: the footer keeps the list's own keys
    BINDINGS = [
        Binding(key, f"filter('{name}')", RECIPIENT_FILTERS[name][0], id=f"recipients.filter_{name}",
                tooltip=RECIPIENT_FILTER_HELP[name], show=False)
        for name, key in FILTER_KEYS.items()
    ]

    def __init__(self, mailing_id: int, filter_name: str = "all", mailing_name: str = "") -> None:
        super().__init__()
        self.mailing_id = mailing_id
        self.filter_name = filter_name
        self.mailing_name = mailing_name
        self.filter_counts: dict[str, int] = {}
        self._filter_keys: dict[str, str] | None = None

    def compose_bar(self) -> ComposeResult:
        yield Static(id="filterbar", classes="filterbar")

    @property
    def filter_keys(self) -> dict[str, str]:
        """The filter keys as keymap.toml has them (the bar is where they are shown), read once."""
        if self._filter_keys is None:
            self._filter_keys = bound_keys(self)
        return self._filter_keys

    def on_mount(self) -> None:  # runs before ListScreen.on_mount (Textual calls both)
        if not self.mailing_name:
            self.load_title()

    @work(thread=True, group="title")
    @recoverable("reading the mailing")
    def load_title(self) -> None:
        name = db_call(mailing_title, self.mailing_id)
        self.app.call_from_thread(self._title_loaded, name)

    def _title_loaded(self, name: str) -> None:
        self.mailing_name = name
        self.update_title()

    def view_filter(self) -> ViewFilter:
        return ViewFilter("recipients", mailing_id=self.mailing_id,
                          statuses=RECIPIENT_FILTERS[self.filter_name][1],
                          search=self.search, extra=tuple(self.extra))

    def title_text(self) -> Text:
        return Text.assemble(("Recipients", "bold"), " of ", (self.mailing_name or f"mailing {self.mailing_id}"))

    def action_filter(self, name: str) -> None:
        """Switch the status filter (the counts stay: they do not depend on it)."""
        if name == self.filter_name:
            return
        self.filter_name = name
        f = self.view_filter()
        self.table.show(f)
        self.total = self.filter_counts.get(name) if self.filter_counts else None
        self.status_with_rows()

    def load_counts(self, f: ViewFilter) -> None:
        self.filter_counts = {}
        self.update_bar()
        self.load_filter_counts(f)

    @work(thread=True, exclusive=True, group="counts")
    @recoverable("counting recipients")
    def load_filter_counts(self, f: ViewFilter) -> None:
        counts = db_call(recipient_filter_counts, f)
        self.app.call_from_thread(self._filter_counts_loaded, f, counts)

    def _filter_counts_loaded(self, f: ViewFilter, counts: dict[str, int]) -> None:
        if replace(f, statuses=()) != replace(self.view_filter(), statuses=()):
            return  # counts for an outdated search or drill-in
        self.filter_counts = counts
        self.total = counts.get(self.filter_name)
        self.update_status()

    def update_status(self) -> None:
        """The status line and the filter bar (its highlighted filter and counts) change together."""
        super().update_status()
        self.update_bar()

    def update_bar(self) -> None:
        widget = self.query_one("#filterbar", Static)
        room = widget.content_region.width or widget.size.width
        bar = self.bar_text(short=False)
        if room and bar.cell_len > room:  # every filter must stay visible (QA: "c Complained" was cut)
            bar = self.bar_text(short=True)
        widget.update(bar, layout=False)  # one line, always

    def on_resize(self) -> None:
        self.update_bar()

    def bar_text(self, short: bool) -> Text:
        """The filter bar: each filter's key, label and count; ``short``: counts as 6.4k, 1.0M, one space apart."""
        bar = Text(no_wrap=True, overflow="ellipsis")
        keys = self.filter_keys
        for name in FILTER_KEYS:
            key = keys.get(f"recipients.filter_{name}", FILTER_KEYS[name])
            label = RECIPIENT_FILTERS[name][0]
            n: Any = self.filter_counts.get(name)
            style = "reverse bold" if name == self.filter_name else ""
            count = "…" if n is None else (short_count(n) if short else f"{n:,}")
            bar.append(f"{key} {label} {count}", style=style)
            bar.append(" " if short else "  ")
        bar.rstrip()
        return bar


def short_count(n: int) -> str:
    """A count in at most 4 characters: 974, 6.4k, 20k, 1.0M."""
    if n < 1000:
        return str(n)
    if n < 999_500:
        value, unit = n / 1000, "k"
    else:
        value, unit = n / 1_000_000, "M"
    return f"{value:.1f}{unit}" if value < 9.95 else f"{value:.0f}{unit}"
