"""Editing one address: validate (syntax and DNS) first, show the verdict, then save.

Enter validates what is typed (in a thread worker, bounded by a timeout:
``unknown`` when DNS does not answer in time, never "invalid").  Enter again
on the same text saves it; bad syntax is never saved, and a domain DNS calls
dead needs that second Enter after the warning was shown.  Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from models.validation import ValidationResult, run_validation
from tui.dbthread import db_call

#: Seconds one domain's DNS lookup may take, and the whole check.
DNS_TIMEOUT = 3.0
DNS_DEADLINE = 6.0


@dataclass(frozen=True, slots=True)
class AddressEdit:
    """The new address and the verdict the operator saw for it."""

    email: str
    verdict: ValidationResult


def check_address(email: str) -> tuple[ValidationResult, str]:
    """Validate one address with the configured nameservers, bounded in time; (verdict, note)."""
    run = run_validation([email], timeout=DNS_TIMEOUT, deadline=DNS_DEADLINE)
    return run.results[0], run.note


def verdict_text(verdict: ValidationResult, note: str = "") -> Text:
    """The verdict in words, outside text verbatim; a warning sign when the address cannot take mail."""
    text = Text()
    if verdict.invalid:
        text.append("⚠ ", style="bold")
        text.append(verdict.status, style="bold")
    elif verdict.status == "unknown":
        text.append("? unknown", style="bold")
    else:
        text.append("✓ ok", style="bold")
    text.append(": ")
    text.append(verdict.reason)
    if verdict.suggestion:
        text.append("\nDid you mean ")
        text.append(verdict.suggestion, style="bold")
        text.append("? (nothing is changed unless you type it)")
    if note:
        text.append(f"\n{note}", style="dim")
    return text


class AddressDialog(ModalScreen[AddressEdit | None]):
    """Edit ``email``; returns the new address and its verdict, or None on Escape."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, email: str, clash: Callable[[str], str | None] | None = None) -> None:
        """``clash(text)``: why the text cannot be saved (another address of the account has it), checked
        with the validation so the refusal comes before the second Enter, with the text still there."""
        super().__init__()
        self.email = email
        self.clash = clash
        self.checked: tuple[str, ValidationResult] | None = None  # (text, verdict) last shown
        self.refused: str | None = None  # the text ``clash`` refused
        self.checking: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="address"):
            yield Static(Text("Edit address", style="bold"), classes="dialog-title")
            yield Static(Text.assemble("Now: ", (self.email, "bold")), classes="dialog-body")
            yield Input(self.email, id="address-input")
            yield Static("", id="address-verdict", classes="dialog-body", markup=False)
            yield Static(Text("Enter: check, then Enter again to save (clears the bounce state)   Esc: cancel",
                              style="dim"), id="address-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.checked is not None and self.checked[0] != event.value.strip():
            self.checked = None
            self.query_one("#address-verdict", Static).update(Text(""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#address-verdict", Static).update(Text("⚠ Type an address."))
            return
        if self.checked is not None and self.checked[0] == text:
            verdict = self.checked[1]
            if self.refused == text:
                return  # the reason is on screen; another text is needed
            if verdict.status == "invalid_syntax":
                self.query_one("#address-verdict", Static).update(
                    verdict_text(verdict, "Not saved: fix the address first."))
                return
            self.dismiss(AddressEdit(text, verdict))
            return
        if self.checking == text:
            return  # the check of this text is under way
        self.checking = text
        self.query_one("#address-verdict", Static).update(Text("Checking syntax and DNS…", style="italic"))
        self.run_check(text)

    @work(thread=True, exclusive=True, group="address-check")
    def run_check(self, text: str) -> None:
        try:
            verdict, note = check_address(text)
            refusal = (db_call(self.clash, text) if self.clash is not None and verdict.status != "invalid_syntax"
                       else None)
        except Exception as exc:  # a nameserver setting that cannot be used: say so, save nothing
            self.app.call_from_thread(self.show_error, text, str(exc))
            return
        self.app.call_from_thread(self.show_verdict, text, verdict, note, refusal)

    def show_error(self, text: str, message: str) -> None:
        if self.checking == text:
            self.checking = None
        self.query_one("#address-verdict", Static).update(Text(f"⚠ Cannot check: {message}"))

    def show_verdict(self, text: str, verdict: ValidationResult, note: str, refusal: str | None = None) -> None:
        if self.checking == text:
            self.checking = None
        if self.query_one(Input).value.strip() != text:
            return  # typed on since
        self.checked = (text, verdict)
        self.refused = text if refusal else None
        if refusal:
            self.query_one("#address-verdict", Static).update(
                Text.assemble(("⚠ ", "bold"), refusal, "\nNot saved: type another address."))
            return
        if verdict.status == "invalid_syntax":
            tail = "Not saved: fix the address."
        elif verdict.invalid:
            tail = "This domain cannot receive mail. Enter again saves it anyway."
        else:
            tail = "Enter again saves it."
        note = note.strip()
        if note and not note.endswith((".", "!", "?")):
            note += "."  # "checked syntax only." then "Enter again saves it."
        self.query_one("#address-verdict", Static).update(verdict_text(verdict, " ".join(p for p in (note, tail) if p)))

    def action_cancel(self) -> None:
        self.dismiss(None)
