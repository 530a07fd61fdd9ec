"""Picking an existing selection or project by typing part of its name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.dbthread import db_call
from tui.workers import recoverable

#: search(text) -> rows with ``id`` and ``name`` (and optionally ``member_count``)
SearchFn = Callable[[str], Sequence[Any]]


class PickerDialog(ModalScreen[int | None]):
    """Type-ahead search over names; Enter returns the highlighted id, Escape None.

    Every keystroke starts a search in a thread worker (exclusive: the older
    one is cancelled) and a result for text that is no longer in the input is
    dropped, so a slow answer never replaces a newer one.
    """

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("down", "move(1)", "Down", show=False),
        Binding("up", "move(-1)", "Up", show=False),
    ]

    def __init__(self, title: str, search: SearchFn, empty: str = "None yet.") -> None:
        """``empty``: what to say when there is nothing at all to pick (an empty search finds nothing)."""
        super().__init__()
        self.title_text = title
        self.search = search
        self.empty = empty

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="picker"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Input(placeholder="type part of the name", id="picker-input")
            yield OptionList(id="picker-options")
            yield Static("", id="picker-status", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.run_search("")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.run_search(event.value)

    @work(thread=True, exclusive=True, group="picker-search")
    @recoverable("searching")
    def run_search(self, text: str) -> None:
        rows = db_call(self.search, text.strip())
        self.app.call_from_thread(self.show_results, text, rows)

    def show_results(self, text: str, rows: Sequence[Any]) -> None:
        if text != self.query_one(Input).value:
            return  # an outdated answer
        options = self.query_one(OptionList)
        options.clear_options()
        for row in rows:
            label = Text(row.name)
            members = getattr(row, "member_count", None)
            if isinstance(members, int):
                label.append(f"  ({members:,})", style="dim")
            options.add_option(Option(label, id=str(row.id)))
        if rows:
            options.highlighted = 0
        status = self.query_one("#picker-status", Static)
        if rows:
            status.update(Text(f"{len(rows)} found  ·  Enter: choose  Esc: cancel"))
        else:
            status.update(Text("Nothing matches." if text.strip() else self.empty))

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -delta
            options.highlighted = max(0, min(options.option_count - 1, current + delta))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.choose()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose()

    def choose(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            self.query_one("#picker-status", Static).update(Text("Nothing chosen: type part of a name."))
            return
        option = options.get_option_at_index(options.highlighted)
        self.dismiss(int(option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)
