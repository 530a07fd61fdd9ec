"""The confirm dialog of destructive actions: it states how many rows it will touch."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask "do it?" for ``count`` rows; ``y`` confirms, ``n`` or Escape cancels.

    ``warning`` (literal text) is shown under the count, e.g. the dead
    domains found by re-validating before a bounce flag is cleared.

    The cancel button has the focus, so an Enter pressed out of habit does
    nothing destructive.
    """

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Yes", id="dialog.confirm"),
    ]

    def __init__(self, title: str, question: str, count: int, *, confirm_label: str = "Yes",
                 warning: Text | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.count = count
        self.confirm_label = confirm_label
        self.warning = warning

    def compose(self) -> ComposeResult:
        rows = "row" if self.count == 1 else "rows"
        with Vertical(id="dialog", classes="confirm"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(Text(self.question), classes="dialog-body")
            yield Static(Text(f"This affects {self.count:,} {rows}."), id="confirm-count", classes="dialog-count")
            if self.warning is not None:
                yield Static(self.warning, id="confirm-warning", classes="dialog-warning")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
