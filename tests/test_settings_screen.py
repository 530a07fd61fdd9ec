"""The settings screen: preview before saving, confirm, apply, audit; Escape and errors save nothing."""

from __future__ import annotations

import datetime as dt
import itertools

from textual.app import App
from textual.widgets import Input, Static

from models.events import EventIn, record_events
from models.schema import AddressState, AuditLog
from models.settings import get_setting, set_setting
from tests import factories as f
from tests.pilot_helpers import settle, wait_for
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.settings import SettingsScreen

_keys = itertools.count()


def soft(email: str, n: int) -> list[EventIn]:
    return [EventIn(email=email, kind="bounce", reason="mailboxfull", smtp_status="4.2.2",
                    dedupe_key=f"s{next(_keys)}", occurred_at=f.T0 + dt.timedelta(minutes=next(_keys)))
            for _ in range(n)]


class Host(App):
    def on_mount(self) -> None:
        self.push_screen(SettingsScreen())


def seed() -> None:
    acc = f.account()
    addrs = [f.person(acc, f"p{i}@example.com") for i in range(3)]
    f.mailing(acc, "m1", addrs)
    set_setting("soft_bounce_limit", 5)
    record_events(soft("p0@example.com", 2) + soft("p1@example.com", 4))


def note(app: App, key: str) -> str:
    return str(app.screen.query_one(f"#note-{key}", Static).render())


async def set_input(pilot, key: str, text: str) -> None:  # noqa: ANN001
    field = pilot.app.screen.query_one(f"#input-{key}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await settle(pilot)


async def test_preview_then_save_blocks_and_audits(db) -> None:
    seed()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#input-soft_bounce_limit", Input).value == "5"
        await set_input(pilot, "soft_bounce_limit", "1")
        assert "block 2 and release 0" in note(app, "soft_bounce_limit")
        assert get_setting("soft_bounce_limit") == 5  # only a preview so far
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirm dialog")
        assert "This affects 2 rows" in str(app.screen.query_one("#confirm-count", Static).render())
        await pilot.press("y")
        await settle(pilot)
    assert get_setting("soft_bounce_limit") == 1
    assert AddressState.select().where(AddressState.status == "blocked").count() == 2
    entry = AuditLog.get(AuditLog.action == "setting: soft_bounce_limit")
    assert entry.affected == 2 and '"new": 1' in entry.details


async def test_cancelled_confirm_and_escape_save_nothing(db) -> None:
    seed()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await set_input(pilot, "soft_bounce_limit", "0")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirm dialog")
        await pilot.press("escape")  # cancels the confirm dialog
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("escape")  # leaves the screen
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen)
    assert get_setting("soft_bounce_limit") == 5
    assert AddressState.select().where(AddressState.status == "blocked").count() == 0
    assert AuditLog.select().where(AuditLog.action.startswith("setting")).count() == 0


async def test_bad_value_is_refused_and_plain_setting_saves_without_confirm(db) -> None:
    seed()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await set_input(pilot, "hard_categories", "mailbox_full, nonsense")
        assert "unknown category nonsense" in note(app, "hard_categories")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Not saved" in str(app.screen.query_one("#settings-status", Static).render())
        await set_input(pilot, "hard_categories", "mailbox_full")
        await set_input(pilot, "pending_expiry_hours", "24")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert get_setting("hard_categories") == ["mailbox_full"]
    assert get_setting("pending_expiry_hours") == 24
    assert AuditLog.select().where(AuditLog.action.startswith("setting")).count() == 2


def test_parse_setting_and_setting_text_round_trip() -> None:
    import pytest

    from models.rules_preview import parse_setting, setting_text
    from models.settings import DEFAULTS

    for key, value in DEFAULTS.items():
        assert parse_setting(key, setting_text(value)) == value
    assert parse_setting("soft_bounce_limit", " 7 ") == 7
    assert parse_setting("hard_categories", "mailbox_full, policy,mailbox_full") == ["mailbox_full", "policy"]
    for key, text, message in (("soft_bounce_limit", "-1", "at least 0"), ("soft_bounce_limit", "2.5", "whole"),
                               ("global_bounce_accounts", "0", "at least 1"),
                               ("hard_categories", "complaint", "unknown category"),
                               ("verp_prefix", "two words", "one word"), ("mailing_id_header", "", "one word")):
        with pytest.raises(ValueError, match=message):
            parse_setting(key, text)
    with pytest.raises(KeyError):
        parse_setting("nonsense", "1")


async def test_a_save_that_fails_half_way_says_what_was_saved(sqlite_db, sqlite_url, tmp_path, monkeypatch) -> None:
    """Each setting is its own transaction: when the database fails before the second, the first stays and is named."""
    from pathlib import Path

    from models import rules_preview
    from tests.test_app_failures import swap_back, swap_out

    seed()
    sqlite_db.close()
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    real = rules_preview.apply_setting
    calls = []

    def apply_then_fail(key, value, **kw):  # the real save; then the database file goes bad (a real failure)
        calls.append(key)
        if len(calls) == 2:
            swap_out(db_file, tmp_path / "aside")
        return real(key, value, **kw)

    monkeypatch.setattr("tui.screens.settings.apply_setting", apply_then_fail)
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await set_input(pilot, "verp_prefix", "bx")
        await set_input(pilot, "mailing_id_header", "X-M")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), "the error")
        message = next(n.message for n in app._notifications if n.severity == "error")
        assert "failed" in message and "\n" not in message
        first = {"verp_prefix": "local-part prefix", "mailing_id_header": "header carrying"}[calls[0]]
        assert "saved before it: " + first in message.lower()
        assert app.is_running
    swap_back(db_file, tmp_path / "aside")
    from models.settings import DEFAULTS

    assert len(calls) == 2
    assert get_setting(calls[0]) in ("bx", "X-M")  # the first landed
    assert get_setting(calls[1]) == DEFAULTS[calls[1]]  # the second did not
