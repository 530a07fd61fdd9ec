"""The settings screen: the rule settings, with a live preview of what a change does.

Typing a new "accepted bounces before the address is disabled" shows, before
anything is saved, how many addresses the change would block and release
(``models.rules_preview``; counted in a thread worker, outdated answers
dropped).  Saving asks for confirmation when addresses change, applies each
changed setting in one transaction and writes an audit entry per setting.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from models.rules_preview import SettingChange, apply_setting, parse_setting, preview_setting, setting_text
from models.settings import DEFAULTS, DESCRIPTIONS, all_settings
from tui.dbthread import db_call, in_thread
from tui.dialogs.confirm import ConfirmDialog
from tui.workers import BUGS, RECOVERABLE, failure_text, recoverable
from tui.widgets.title_bar import TitleBar

#: Settings whose change moves existing addresses, so they get a preview.
PREVIEWED = ("soft_bounce_limit", "global_bounce_accounts")


class SettingsScreen(Screen[None]):
    """Edit rule settings; ``ctrl+s`` saves, Escape goes back without saving."""

    TITLE = "Settings"
    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings.save"),
        Binding("escape", "back", "Back", id="settings.back"),
        Binding("ctrl+r", "revert", "Revert", id="settings.revert"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[str, Any] = {}
        self.previews: dict[str, tuple[str, Any]] = {}  # key -> (text previewed, Preview)

    def compose(self) -> ComposeResult:
        yield TitleBar(Text("Settings  ·  rules for blocking addresses", style="bold"))
        with VerticalScroll(id="settings-body"):
            for key in DEFAULTS:
                with Vertical(classes="setting", id=f"setting-{key}"):
                    yield Static(Text(DESCRIPTIONS[key]), classes="setting-label")
                    yield Input(id=f"input-{key}", compact=True, classes="setting-input")
                    yield Static("", id=f"note-{key}", classes="setting-note", markup=False)
        yield Static("", id="settings-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="settings-load")
    @recoverable("reading the settings")
    def load(self) -> None:
        values = db_call(all_settings)
        self.app.call_from_thread(self.show_values, values)

    def show_values(self, values: dict[str, Any]) -> None:
        self.stored = values
        for key, value in values.items():
            self.query_one(f"#input-{key}", Input).value = setting_text(value)
            self.query_one(f"#note-{key}", Static).update(Text(""))
        self.query_one(f"#input-{next(iter(DEFAULTS))}", Input).focus()
        self.set_status("ctrl+s saves; nothing changes until then.")

    def set_status(self, text: str) -> None:
        self.query_one("#settings-status", Static).update(Text(text))

    def pending(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(changed values, errors) of the form, keyed by setting."""
        changed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key in DEFAULTS:
            text = self.query_one(f"#input-{key}", Input).value
            try:
                value = parse_setting(key, text)
            except ValueError as exc:
                errors[key] = str(exc)
                continue
            if key in self.stored and value != self.stored[key]:
                changed[key] = value
        return changed, errors

    @on(Input.Changed, ".setting-input")
    def input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("input-")
        note = self.query_one(f"#note-{key}", Static)
        if not self.stored:
            return
        try:
            value = parse_setting(key, event.value)
        except ValueError as exc:
            note.update(Text(f"⚠ {exc}", style="bold"))
            return
        if value == self.stored.get(key):
            note.update(Text(""))
            return
        if key in PREVIEWED:
            note.update(Text("counting…", style="dim"))
            self.preview(key, event.value, value)
        else:
            note.update(Text(f"changed (was {setting_text(self.stored[key])}); applies to new events",
                             style="italic"))

    @work(thread=True, exclusive=True, group="settings-preview")
    @recoverable("preview")
    def preview(self, key: str, text: str, value: Any) -> None:
        result = db_call(preview_setting, key, value)
        self.app.call_from_thread(self.show_preview, key, text, result)

    def show_preview(self, key: str, text: str, result: Any) -> None:
        if self.query_one(f"#input-{key}", Input).value != text:
            return  # typed on since: a newer preview is on its way
        self.previews[key] = (text, result)
        self.query_one(f"#note-{key}", Static).update(Text(
            f"Saving would block {result.would_block:,} and release {result.would_release:,} addresses "
            f"(was {setting_text(self.stored[key])})", style="bold"))

    def action_revert(self) -> None:
        self.show_values(self.stored)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.save_flow()

    @work(exclusive=True, group="settings-save")
    @recoverable("saving settings")
    async def save_flow(self) -> None:
        changed, errors = self.pending()
        if errors:
            key, message = next(iter(errors.items()))
            self.set_status(f"Not saved: {DESCRIPTIONS[key]}: {message}")
            self.query_one(f"#input-{key}", Input).focus()
            return
        if not changed:
            self.set_status("Nothing changed.")
            return
        moving = 0
        for key in changed:
            if key in PREVIEWED:
                result = await in_thread(self, preview_setting, key, changed[key], group="settings-count")
                moving += result.would_block + result.would_release
        if moving:
            names = ", ".join(DESCRIPTIONS[k].lower() for k in changed)
            question = f"Save {names}? Existing addresses are blocked or released now."
            if not await self.app.push_screen_wait(ConfirmDialog("Save settings", question, moving,
                                                                 confirm_label="Save")):
                self.set_status("Not saved.")
                return
        done: list[SettingChange] = []
        saved: list[str] = []
        for key, value in changed.items():
            try:
                done.append(await in_thread(self, apply_setting, key, value, group="settings-apply"))
            except RECOVERABLE as exc:  # each setting is its own transaction: say which ones landed
                if isinstance(exc, BUGS):
                    raise
                before = ", ".join(DESCRIPTIONS[k].lower() for k in saved) or "none"
                self.notify(failure_text(f"Saving {DESCRIPTIONS[key].lower()}", exc) + f"; saved before it: {before}",
                            severity="error", markup=False, timeout=15)
                self.load()  # show what is stored now
                return
            saved.append(key)
        blocked = sum(c.blocked for c in done)
        released = sum(c.released for c in done)
        self.notify(f"Saved {len(done)} setting(s): {blocked:,} addresses blocked, {released:,} released.",
                    markup=False)
        self.load()
