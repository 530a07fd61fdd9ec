"""Asking for the name of a new selection or project."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.dbthread import db_call
from tui.workers import recoverable


class NameDialog(ModalScreen[str | None]):
    """A one-line name; Enter returns it trimmed (never empty), Escape returns None."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, title: str, prompt: str, value: str = "", max_length: int = 200,
                 check: Callable[[str], str | None] | None = None) -> None:
        """``check(name)``: why the name cannot be used (taken), asked before the dialog closes."""
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.value = value
        self.max_length = max_length
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="name"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(Text(self.prompt), classes="dialog-body")
            yield Input(self.value, id="name-input", max_length=self.max_length)
            yield Static("", id="name-error", classes="dialog-error", markup=False)
            yield Static(Text(f"Enter: save   Esc: cancel   (at most {self.max_length} characters)", style="dim"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#name-error", Static).update(Text("The name cannot be empty."))
            return
        if self.check is None:
            self.dismiss(name)
            return
        self.run_check(name)

    @work(thread=True, exclusive=True, group="name-check")
    @recoverable("checking the name")
    def run_check(self, name: str) -> None:
        problem = db_call(self.check, name)
        self.app.call_from_thread(self._checked, name, problem)

    def _checked(self, name: str, problem: str | None) -> None:
        if self.query_one(Input).value.strip() != name:
            return  # typed on since
        if problem is None:
            self.dismiss(name)
        else:
            self.query_one("#name-error", Static).update(Text(f"{problem[0].upper()}{problem[1:]}."))

    def action_cancel(self) -> None:
        self.dismiss(None)
