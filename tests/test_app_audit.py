"""The audit log screen: entries newest first, keyset paging, items, undo with confirm, refusals."""

from __future__ import annotations

import pytest

from models.actions import clear_bounce_flag, export_rows
from models.filters import Target, ViewFilter
from models.queries import PAGE_SIZE
from models.schema import AddressState, AuditLog
from tests.pilot_helpers import settle, wait_for
from tests.seed import seed_small
from tui.app import BouncedeskApp
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.audit import AuditScreen
from tui.screens.audit_entry import AuditEntryScreen


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


def blocked_count() -> int:
    return AddressState.select().where(AddressState.status == "blocked").count()


async def open_audit(pilot) -> AuditScreen:  # noqa: ANN001
    await settle(pilot)
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AuditScreen), "the audit screen")
    await settle(pilot)
    return pilot.app.screen


async def test_undo_confirm_cancel_and_refusals(seeded, tmp_path) -> None:
    target = Target(filter=ViewFilter("blocked"))
    before = blocked_count()
    cleared = clear_bounce_flag(target)
    export_rows(Target(filter=ViewFilter("addresses")), tmp_path / "all.csv", "csv")  # newest: not undoable
    assert cleared == before and blocked_count() == 0
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_audit(pilot)
        assert [e.action for e in screen.entries] == ["export", "clear bounce flag"]
        detail = str(screen.query_one("#audit-detail").render())
        assert "export" in detail and "by " in detail

        await pilot.press("z")  # the export: refused without a dialog
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("cannot be undone" in n.message for n in app._notifications)

        await pilot.press("down", "z")  # the clear: confirm, then Escape cancels
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the undo confirmation")
        assert f"This affects {cleared} rows" in str(app.screen.query_one("#confirm-count").render())
        await pilot.press("escape")
        await settle(pilot)
        assert blocked_count() == 0 and AuditLog.get(AuditLog.action == "clear bounce flag").undone_at is None

        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the undo confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(screen.entries) == 3, "the reloaded log")
        assert blocked_count() == before
        assert screen.entries[0].action == "undo clear bounce flag"
        assert str(screen.table.get_row_at(2)[4]) == "undone"

        await pilot.press("down", "down", "z")  # the same entry again: already undone
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmDialog)
        assert any("already undone" in n.message for n in app._notifications)
    assert blocked_count() == before


async def test_items_and_paging(seeded) -> None:
    cleared = clear_bounce_flag(Target(filter=ViewFilter("blocked")))
    for i in range(PAGE_SIZE + 30):  # more than one page of entries
        AuditLog.create(action="note", cause=f"[bold]entry {i}[/] 550 [/]", os_user="tester")
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_audit(pilot)
        assert len(screen.entries) == PAGE_SIZE and not screen.at_end
        assert "[bold]entry" in str(screen.query_one("#audit-detail").render())  # literal, not markup
        await pilot.press("ctrl+end")
        await wait_for(pilot, lambda: screen.at_end, "the last page")
        assert len(screen.entries) == PAGE_SIZE + 31
        assert screen.entries[-1].action == "clear bounce flag"
        await pilot.press("ctrl+end", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditEntryScreen), "the entry's items")
        await settle(pilot)
        items = app.screen.query_one("#items-table")
        assert items.row_count == cleared
        assert "blocked" in {str(items.get_row_at(i)[1]) for i in range(items.row_count)}
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_palette_opens_settings_and_lists_undo(seeded) -> None:
    from tui.commands_palette import palette_commands
    from tui.screens.settings import SettingsScreen

    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = [c.title for c in palette_commands(app.screen)]
        assert "Open settings" in titles
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"open settings")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings screen")
        await pilot.press("escape")
        screen = await open_audit(pilot)
        titles = [c.title for c in palette_commands(screen)]
        assert {"Undo the cursor entry's action", "Items: the rows the entry changed", "Settings"} <= set(titles)
        await pilot.press("S")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings screen")


async def test_key_5_opens_settings_from_any_screen(seeded) -> None:
    """The global settings key: over a list, over the recipients, not twice; Escape returns to where it was."""
    from tui.screens.mailings import MailingsScreen
    from tui.screens.recipients import RecipientsScreen
    from tui.screens.settings import SettingsScreen

    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MailingsScreen)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings screen")
        depth = len(app.screen_stack)
        await pilot.press("5")  # typed into the focused setting's box or ignored: never a second settings screen
        await settle(pilot)
        assert len(app.screen_stack) == depth
        assert sum(isinstance(s, SettingsScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MailingsScreen), "the mailings screen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RecipientsScreen), "the recipients")
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings screen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RecipientsScreen), "back on the recipients")
        assert "app.settings" in {b.id for b in app.BINDINGS}
