"""Asking for the name of a new selection or project."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class NameDialog(ModalScreen[str | None]):
    """A one-line name; Enter returns it trimmed (never empty), Escape returns None."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, prompt: str, value: str = "", max_length: int = 200) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.value = value
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="name"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(Text(self.prompt), classes="dialog-body")
            yield Input(self.value, id="name-input", max_length=self.max_length)
            yield Static("", id="name-error", classes="dialog-error", markup=False)
            yield Static(Text("Enter: save   Esc: cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#name-error", Static).update(Text("The name cannot be empty."))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
