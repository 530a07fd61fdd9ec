"""SVG snapshots at 80x24 of every dialog and of the settings, audit and person screens.

On the seeded database (``tests/seed.py``); audit entries get fixed times
and a fixed operator so nothing in a picture depends on the clock or the
user running the tests.  Flows that wait for a dialog answer are never
waited for (``tests.pilot_helpers.settle`` waits for thread workers only).
Update with ``pytest tests/test_snapshots_dialogs.py --snapshot-update`` and
look at the report once before committing.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Awaitable, Callable

import pytest
from textual.widgets import Input

from models.actions import add_to_selection, clear_bounce_flag, set_former_employee
from models.filters import Target, ViewFilter
from models.address_state import set_state
from models.schema import Address, AddressState, AuditLog
from models.selections import create_selection
from tests.dns_server import DNSServer
from tests.pilot_helpers import settle, wait_for
from tests.seed import T0, seed_small
from tui.app import BouncedeskApp
from tui.dialogs.progress import ProgressDialog
from tui.screens.audit import AuditScreen
from tui.screens.person import PersonScreen
from tui.screens.settings import SettingsScreen

SIZE = (80, 24)


@pytest.fixture
def seeded(sqlite_db):
    ids = seed_small(sqlite_db)
    create_selection("Quarterly cleanup", "selection", None)
    create_selection("Quarterly [draft]", "selection", None)
    create_selection("Newsletter list", "selection", None)
    return ids


@pytest.fixture
def audited(seeded):
    """Three undoable actions and one undo, at fixed times by a fixed operator."""
    blocked = sorted(seeded["blocked"])
    clear_bounce_flag(Target(filter=ViewFilter("blocked"), ids=frozenset(blocked[:2])))
    add_to_selection(Target(filter=ViewFilter("addresses"), ids=frozenset(blocked[2:5])), name="Spring [re]check")
    set_former_employee(Target(filter=ViewFilter("addresses"), ids=frozenset(blocked[5:6])))
    from models.actions import undo

    first = AuditLog.select().order_by(AuditLog.id).first()
    undo(first.id)
    for i, entry in enumerate(AuditLog.select().order_by(AuditLog.id)):
        AuditLog.update(at=T0 + dt.timedelta(hours=i), os_user="operator",
                        undone_at=T0 + dt.timedelta(hours=3) if entry.undone_at else None,
                        undone_by="operator" if entry.undone_at else None).where(
            AuditLog.id == entry.id).execute()
    return seeded


def drive(*steps: str | Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """A ``run_before`` pressing keys (or awaiting callables) one by one, settling after each."""

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        for step in steps:
            if isinstance(step, str):
                await pilot.press(step)
            else:
                await step(pilot)
            await settle(pilot)
        steady_cursors(pilot)
        await pilot.pause()

    return run_before


def steady_cursors(pilot) -> None:  # noqa: ANN001
    """A blinking text cursor is on or off depending on when the picture is taken: make it steady."""
    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


def on_blocked(*steps: str | Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Two rows selected on the blocked list, then ``steps``."""
    return drive("space", "down", "space", *steps)


def until(cls: type) -> Callable[..., Awaitable[None]]:
    async def wait(pilot) -> None:  # noqa: ANN001
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, cls), cls.__name__)
    return wait


def blocked_app() -> BouncedeskApp:
    return BouncedeskApp(screen="blocked")


def test_action_menu(seeded, snap_compare) -> None:
    assert snap_compare(blocked_app(), run_before=on_blocked("m"), terminal_size=SIZE)


def test_confirm_delete(seeded, snap_compare) -> None:
    assert snap_compare(blocked_app(), run_before=on_blocked("m", "d"), terminal_size=SIZE)


def test_confirm_clear_flag_warns_about_dead_domain(seeded, dns_server: DNSServer, snap_compare) -> None:
    """The two selected rows: one on a null-MX domain (warned about), one on a domain with an MX (not)."""
    dns_server.null_mx("acme-nullmx.com")
    dns_server.add("globex.example", "MX", "10 mx.globex.example.")
    dns_server.add("mx.globex.example", "A", "93.184.216.34")
    top = max(seeded["blocked"])  # the Beta customer, blocked last: the first row
    Address.update(email="gone@acme-nullmx.com", domain="acme-nullmx.com").where(Address.id == top).execute()
    AddressState.update(email="gone@acme-nullmx.com", domain="acme-nullmx.com").where(AddressState.id == top).execute()
    from tui.dialogs.confirm import ConfirmDialog

    assert snap_compare(blocked_app(), run_before=on_blocked("m", "c", until(ConfirmDialog)), terminal_size=SIZE)


def test_export_dialog(seeded, snap_compare, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the proposed file name depends on what the folder holds
    assert snap_compare(blocked_app(), run_before=on_blocked("m", "e"), terminal_size=SIZE)


def test_name_dialog(seeded, snap_compare) -> None:
    assert snap_compare(blocked_app(), run_before=on_blocked("m", "n", *"Spring [re]check"), terminal_size=SIZE)


def test_picker_dialog_type_ahead(seeded, snap_compare) -> None:
    assert snap_compare(blocked_app(), run_before=on_blocked("m", "s", *"quart"), terminal_size=SIZE)


def test_progress_dialog(seeded, snap_compare) -> None:
    """A job held at 40 % while the picture is taken (released after at most 5 s)."""
    release = threading.Event()

    def job(progress) -> int:  # noqa: ANN001
        progress(40, 100)
        release.wait(5)
        return 0

    async def show(pilot) -> None:  # noqa: ANN001
        pilot.app.push_screen(ProgressDialog("Export to blocked.csv", job, 100))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ProgressDialog), "the progress dialog")
        await pilot.pause(0.3)
        steady_cursors(pilot)
        await pilot.pause()

    try:
        assert snap_compare(blocked_app(), run_before=show, terminal_size=SIZE)
    finally:
        release.set()


def test_settings_with_preview(seeded, snap_compare) -> None:
    """Three active addresses with 3 soft bounces: a limit of 2 would block them."""
    blocked = AddressState.select(AddressState.id).where(AddressState.status == "blocked")
    for (active,) in Address.select(Address.id).where(Address.id.not_in(blocked)).order_by(Address.id).limit(3).tuples():
        set_state(active, bounce_count=3)

    async def open_and_type(pilot) -> None:  # noqa: ANN001
        pilot.app.push_screen(SettingsScreen())
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen) and pilot.app.screen.stored,
                       "the settings")
        field = pilot.app.screen.query_one("#input-soft_bounce_limit")
        field.value = ""
        await pilot.press("2")

    assert snap_compare(BouncedeskApp(), run_before=drive(open_and_type), terminal_size=SIZE)


def test_audit_log(audited, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(screen="audit"), run_before=drive(until(AuditScreen), "down"),
                        terminal_size=SIZE)


def test_audit_entry_items(audited, snap_compare) -> None:
    assert snap_compare(BouncedeskApp(screen="audit"),
                        run_before=drive(until(AuditScreen), "ctrl+end", "enter"), terminal_size=SIZE)


def test_person_failing_address_reason(seeded, snap_compare) -> None:
    async def open_person(pilot) -> None:  # noqa: ANN001
        pilot.app.push_screen(PersonScreen(seeded["hostile_person"]))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PersonScreen) and pilot.app.screen.detail,
                       "the person")

    assert snap_compare(BouncedeskApp(), run_before=drive(open_person), terminal_size=SIZE)


def test_address_dialog_verdict(seeded, dns_server: DNSServer, snap_compare) -> None:
    dns_server.null_mx("acme-nullmx.com")

    async def edit(pilot) -> None:  # noqa: ANN001
        pilot.app.push_screen(PersonScreen(seeded["hostile_person"]))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PersonScreen) and pilot.app.screen.detail,
                       "the person")
        await pilot.press("e")
        from tui.dialogs.address import AddressDialog

        await wait_for(pilot, lambda: isinstance(pilot.app.screen, AddressDialog), "the address dialog")
        dialog = pilot.app.screen
        dialog.query_one("#address-input").value = "someone@acme-nullmx.com"
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.checked is not None, "the verdict")

    assert snap_compare(BouncedeskApp(), run_before=drive(edit), terminal_size=SIZE)
