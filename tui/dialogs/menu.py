"""The action menu of list screens: one letter or Enter picks an action."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One action of the menu: its id (returned), label, letter and whether it destroys data."""

    id: str
    label: str
    key: str
    destructive: bool = False


class ActionMenu(ModalScreen[str | None]):
    """Choose a bulk action for ``count`` rows; returns its id, or None on Escape."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, items: Sequence[MenuItem], count: int, scope: str) -> None:
        super().__init__()
        self.items = tuple(items)
        self.count = count
        self.scope = scope

    def compose(self) -> ComposeResult:
        rows = "row" if self.count == 1 else "rows"
        with Vertical(id="dialog", classes="menu"):
            yield Static(Text(f"Actions for {self.count:,} {rows}", style="bold"), classes="dialog-title")
            yield Static(Text(self.scope), classes="dialog-body")
            options = []
            for item in self.items:
                label = Text.assemble((f" {item.key} ", "bold reverse"), "  ", item.label)
                options.append(Option(label, id=item.id))
            yield OptionList(*options, id="menu-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_key(self, event) -> None:  # noqa: ANN001 - textual.events.Key
        for item in self.items:
            if event.character == item.key:
                event.stop()
                self.dismiss(item.id)
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
