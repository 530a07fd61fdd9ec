"""Person details: opened from the lists, failing addresses marked and explained, edit with validation,
former employee."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from models.persons import PersonError, edit_address, person_detail, person_history
from models.address_state import set_state, state_of
from models.schema import Address, AuditItem, AuditLog, Person
from models.validation import check_syntax
from tests.dns_server import DNSServer
from tests.pilot_helpers import settle, wait_for
from tests.seed import HOSTILE_DIAGNOSTIC, HOSTILE_EMAIL, seed_small
from tui.app import BouncedeskApp
from tui.commands_palette import palette_commands
from tui.dialogs.address import AddressDialog
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.blocked import BlockedScreen
from tui.screens.listing import _UNREAD
from tui.screens.person import WARNING, PersonScreen

PUBLIC_V4 = "93.184.216.34"


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


def text_of(screen, selector: str) -> str:  # noqa: ANN001
    return str(screen.query_one(selector, Static).render())


async def open_person(pilot, person_id: int) -> PersonScreen:  # noqa: ANN001
    await settle(pilot)
    pilot.app.push_screen(PersonScreen(person_id))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PersonScreen) and pilot.app.screen.detail is not None,
                   "the person screen")
    return pilot.app.screen


def test_person_detail_and_history_rules(seeded) -> None:
    detail = person_detail(seeded["hostile_person"])
    assert detail is not None and detail.name == "[link=http://x]y[/link]"
    [a] = detail.addresses
    assert a.failing and ("Diagnostic", HOSTILE_DIAGNOSTIC) in a.why()
    assert person_detail(10**9) is None
    history = person_history(seeded["hostile_person"]).lines
    assert history and all(line.kind == "event" for line in history)
    assert history == sorted(history, key=lambda line: line.at, reverse=True)
    with pytest.raises(PersonError, match="already an address"):
        other = Address.get(Address.id != a.id, Address.account == Address.get_by_id(a.id).account_id)
        edit_address(a.id, other.email.upper())


async def test_enter_on_blocked_row_opens_the_person(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BlockedScreen) and app.screen.table.window,
                       "the blocked list")
        row = app.screen.table.current_row()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen) and app.screen.detail is not None,
                       "the person screen")
        assert app.screen.person_id == row.person_id
        person = app.screen
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("2")  # back to Blocked: where it was left, the person details
        await settle(pilot)
        assert app.screen is person
        await pilot.press("2")  # the key of the screen one is on: back to its list
        await settle(pilot)
        assert isinstance(app.screen, BlockedScreen)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen), "the person screen")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BlockedScreen)
        # the same from the command palette
        [command] = [c for c in palette_commands(app.screen) if c.title == "Person details of the cursor row"]
        command.run(app)
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen), "the person screen")
        assert app.screen.person_id == row.person_id


async def test_back_on_the_list_after_an_edit_the_rows_are_read_again(seeded, dns_server: DNSServer) -> None:
    """The person screen clears an address's bounce state: back on Blocked, that row is gone without ``r``."""
    dns_server.add("acme-mail.com", "MX", "10 mx1.acme-mail.com.")
    dns_server.add("mx1.acme-mail.com", "A", PUBLIC_V4)
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BlockedScreen) and app.screen.table.window
                       and app.screen.total is not None and app.screen.audit_seen is not _UNREAD, "the blocked list")
        blocked = app.screen
        row = blocked.table.current_row()
        total = blocked.total
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen) and app.screen.detail is not None,
                       "the person screen")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AddressDialog), "the address dialog")
        app.screen.query_one(Input).value = "renewed@acme-mail.com"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.checked is not None, "the verdict")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen)
                       and app.screen.detail.addresses[0].email == "renewed@acme-mail.com", "the saved address")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is blocked and row.id not in {r.id for r in blocked.table.window}
                       and blocked.total == total - 1, "the list read again")


async def test_failing_address_is_marked_and_explained_literally(seeded) -> None:
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_person(pilot, seeded["hostile_person"])
        table = screen.query_one("#person-addresses", DataTable)
        assert str(table.get_row_at(0)[0]) == WARNING and str(table.get_row_at(0)[1]) == HOSTILE_EMAIL
        why = text_of(screen, "#person-why")
        assert HOSTILE_DIAGNOSTIC in why and "policy" in why and "5.7.1" in why
        assert "[link=http://x]y[/link]" in text_of(screen, "#title")
        history = screen.query_one("#person-history", DataTable)
        assert history.row_count == 2  # the two bounces of the seed
        # hovering the address shows the same reason, also as a tooltip
        await pilot.hover("#person-addresses", offset=(5, 1))
        await settle(pilot)
        assert table.tooltip is not None and HOSTILE_DIAGNOSTIC in str(table.tooltip)


async def test_edit_address_validates_then_saves_and_clears(seeded, dns_server: DNSServer) -> None:
    dns_server.add("acme-mail.com", "MX", "10 mx1.acme-mail.com.")
    dns_server.add("mx1.acme-mail.com", "A", PUBLIC_V4)
    dns_server.null_mx("acme-nullmx.com")
    person = seeded["hostile_person"]
    address_id = seeded["hostile_address"]
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_person(pilot, person)
        # Escape cancels: nothing changes
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AddressDialog), "the address dialog")
        await pilot.press("escape")
        await settle(pilot)
        assert Address.get_by_id(address_id).email == HOSTILE_EMAIL

        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, AddressDialog), "the address dialog")
        dialog = app.screen
        field = dialog.query_one(Input)
        for text, expect in (("not an address", "invalid_syntax"), ("x@acme-nullmx.com", "null_mx")):
            field.value = text
            await pilot.press("enter")
            await wait_for(pilot, lambda: dialog.checked is not None, f"the verdict on {text}")
            assert dialog.checked[1].status == expect
            assert expect in text_of(dialog, "#address-verdict")
        field.value = "not an address"
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.checked is not None, "the verdict")
        await pilot.press("enter")  # bad syntax is never saved
        await settle(pilot)
        assert app.screen is dialog and "Not saved" in text_of(dialog, "#address-verdict")

        # another address of the account: refused at the check, the dialog stays with the text (QA)
        taken = Address.get((Address.id != address_id)
                            & (Address.account == Address.get_by_id(address_id).account_id)).email
        field.value = taken.upper()
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.checked is not None, "the verdict on a taken address")
        assert "is already an address of this account" in text_of(dialog, "#address-verdict")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog and field.value == taken.upper()
        assert "Not saved: type another address" in text_of(dialog, "#address-verdict")

        field.value = "Fixed.Person@acme-mail.com"
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.checked is not None, "the verdict")
        assert dialog.checked[1].status == "ok"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PersonScreen)
                       and app.screen.detail.addresses[0].email == "fixed.person@acme-mail.com", "the saved address")
        why = text_of(app.screen, "#person-why")
        assert "is fine" in why and "ok" in why
        assert "Last diagnostic" in why and "\nDiagnostic" not in why  # the old report, named as such
    row, state = Address.get_by_id(address_id), state_of(address_id)
    assert (row.email, state.status, state.bounce_count, state.blocked_cause, state.global_block,
            row.validation_status) == (
        "fixed.person@acme-mail.com", "active", 0, None, False, "ok")
    entry = AuditLog.get(AuditLog.action == "edit address")
    item = AuditItem.get(AuditItem.audit == entry.id)
    assert (item.email, item.prev_status, item.prev_blocked_cause) == (HOSTILE_EMAIL, "blocked", HOSTILE_DIAGNOSTIC)


async def confirm_former_employee(pilot, screen: PersonScreen) -> None:  # noqa: ANN001
    """Press f, confirm with y, wait for the person read again."""
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the confirmation")
    await pilot.press("y")
    await wait_for(pilot, lambda: screen.detail.former_employee, "the reloaded person")


async def test_former_employee_from_person_screen(seeded) -> None:
    person = seeded["hostile_person"]
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_person(pilot, person)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("escape")
        await settle(pilot)
        assert not Person.get_by_id(person).former_employee
        await confirm_former_employee(pilot, screen)
        assert "former employee" in text_of(screen, "#title")
        history = screen.query_one("#person-history", DataTable)
        assert "set former employee" in {str(history.get_row_at(i)[1]) for i in range(history.row_count)}
    assert Person.get_by_id(person).former_employee
    entry = AuditLog.get(AuditLog.action == "set former employee")
    assert entry.undoable and entry.affected == 1
    name = Person.get_by_id(person).full_name
    assert entry.cause == f"operator marked {name} (#{person}) as former employee on the person screen"


async def test_person_screen_is_read_again_after_an_undo_elsewhere(seeded) -> None:
    """Marked former employee, undone in the audit log, back on the person: the header says so (QA)."""
    from models.actions import undo

    person = seeded["hostile_person"]
    app = BouncedeskApp()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_person(pilot, person)
        await confirm_former_employee(pilot, screen)
        await pilot.press("4")
        await settle(pilot)
        undo(AuditLog.get(AuditLog.action == "set former employee").id)  # as the audit screen's z does
        await pilot.press("1")  # the person was opened over the mailings
        await wait_for(pilot, lambda: app.screen is screen and not screen.detail.former_employee,
                       "the person read again")
        assert "former employee" not in text_of(screen, "#title")


def test_syntax_helper_is_the_validation_module() -> None:
    assert check_syntax("a@@b").status == "invalid_syntax"


def test_history_pages_merge_events_and_audit_exactly(db) -> None:
    """Paging the merged history returns every line once, newest first, whatever the page size."""
    import datetime as dt

    from models.persons import person_history
    from models.schema import Event
    from tests import factories as f

    acc = f.account()
    a = f.person(acc, "ada@acme-mail.com")
    other = f.person(acc, "bob@acme-mail.com")
    for i in range(23):  # events every 2 hours, audit entries every 3 (some at the same instant)
        Event.create(account=acc, address=a, person=a.person_id, email=a.email, kind="bounce",
                     dedupe_key=f"e{i}", occurred_at=f.T0 + dt.timedelta(hours=2 * i))
    for i in range(17):
        entry = AuditLog.create(action=f"note {i}", at=f.T0 + dt.timedelta(hours=3 * i), os_user="op")
        AuditItem.create(audit=entry, address_id=a.id if i % 2 else None, person_id=None if i % 2 else a.person_id)
    noise = AuditLog.create(action="other person", at=f.T0, os_user="op")
    AuditItem.create(audit=noise, address_id=other.id, person_id=other.person_id)
    everything = person_history(a.person_id, 1000).lines
    assert len(everything) == 40 and "other person" not in {line.what for line in everything}
    assert [line.at for line in everything] == sorted((line.at for line in everything), reverse=True)
    for size in (1, 7, 40):
        page = person_history(a.person_id, size)
        lines = list(page.lines)
        while page.more:
            page = person_history(a.person_id, size, page.events, page.audit)
            lines += page.lines
        assert [(x.kind, x.id) for x in lines] == [(x.kind, x.id) for x in everything], size


def test_edit_address_rules(db) -> None:
    from models.validation import ValidationResult
    from tests import factories as f

    acc = f.account()
    a = f.person(acc, "ada@acme-mail.com")
    f.person(acc, "taken@acme-mail.com", name="Bob Byte")
    set_state(a.id, status="blocked", bounce_count=6, blocked_reason="mailboxfull", blocked_category="mailbox_full",
              blocked_cause="soft bounce 6 > limit 5", global_block=True)
    with pytest.raises(PersonError, match="taken@acme-mail.com is already an address of this account, of Bob Byte"):
        edit_address(a.id, " Taken@ACME-mail.com ")
    bad = ValidationResult("x@@y", "x@@y", "invalid_syntax", "two @", None)
    with pytest.raises(PersonError):
        edit_address(a.id, "x@@y", bad)
    with pytest.raises(PersonError, match="no longer exists"):
        edit_address(10**9, "a@b.com")
    assert AuditLog.select().count() == 0  # refusals write nothing
    verdict = ValidationResult("Ada.New@acme-mail.com", "Ada.New@acme-mail.com", "ok", "MX found", None)
    info = edit_address(a.id, "Ada.New@acme-mail.com", verdict)
    assert (info.email, info.status, info.bounce_count, info.global_block, info.blocked_cause) == (
        "ada.new@acme-mail.com", "active", 0, False, None)
    assert info.validation_status == "ok" and not info.failing
    item = AuditItem.get()
    assert (item.email, item.prev_status, item.prev_bounce_count, item.prev_global_block) == (
        "ada@acme-mail.com", "blocked", 6, True)
    # a verdict for another text than the one saved is not stored
    info = edit_address(a.id, "ada.third@acme-mail.com", verdict)
    assert info.validation_status is None


def test_a_probable_typo_is_not_called_fine(db) -> None:
    from models.validation import ValidationResult
    from tests import factories as f
    from tui.screens.person import why_text

    acc = f.account()
    a = f.person(acc, "nora@gmail.com")
    verdict = ValidationResult("nora@gmial.com", "nora@gmial.com", "ok", "syntax ok; DNS not checked",
                               "nora@gmail.com")
    edit_address(a.id, "nora@gmial.com", verdict)
    [info] = person_detail(a.person_id).addresses
    text = why_text(info).plain
    assert text.startswith("✓ nora@gmial.com is not blocked, but did you mean nora@gmail.com?")
    assert "is fine" not in text
