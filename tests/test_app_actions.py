"""Every bulk action of the action menu driven with the pilot, each with its cancel path, checked in the database."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest
from textual.widgets import Input, RadioButton

from models.actions import count_target
from models.address_state import state_of
from models.schema import Address, AddressState, AuditLog, Person, Selection, SelectionMember
from models.selections import create_selection
from tests.dns_server import DNSServer
from tests.pilot_helpers import settle, wait_for
from tests.seed import seed_small
from tui.app import BouncedeskApp
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.export import ExportDialog
from tui.dialogs.menu import ActionMenu
from tui.dialogs.name import NameDialog
from tui.dialogs.picker import PickerDialog
from tui.screens.blocked import BlockedScreen


@pytest.fixture
def seeded(sqlite_db):
    return seed_small(sqlite_db)


def blocked_ids() -> set[int]:
    return {a.id for a in AddressState.select(AddressState.id).where(AddressState.status == "blocked")}


def audit_actions() -> list[str]:
    return [e.action for e in AuditLog.select().order_by(AuditLog.id)]


async def blocked_screen(pilot) -> BlockedScreen:  # noqa: ANN001
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BlockedScreen) and pilot.app.screen.table.window
                   and pilot.app.screen.total is not None, "the blocked list")
    return pilot.app.screen


async def select_first(pilot, n: int) -> list[int]:  # noqa: ANN001
    """Select the first ``n`` rows with space; their address ids."""
    screen = pilot.app.screen
    ids = []
    for _ in range(n):
        ids.append(screen.table.current_row().id)
        await pilot.press("space", "down")
    await settle(pilot)
    assert screen.table.selected == set(ids)
    return ids


async def open_menu(pilot, letter: str, dialog: type) -> None:  # noqa: ANN001
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ActionMenu), "the action menu")
    await pilot.press(letter)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, dialog), f"the {dialog.__name__}")


async def back_on_list(pilot) -> None:  # noqa: ANN001
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, BlockedScreen), "the list again")
    await settle(pilot)


async def test_menu_escape_and_empty_selection_do_nothing(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        await pilot.press("m")  # nothing selected: a warning, no menu
        await settle(pilot)
        assert isinstance(app.screen, BlockedScreen)
        assert any("Nothing to act on" in n.message for n in app._notifications)
        await select_first(pilot, 1)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu), "the action menu")
        assert "Actions for 1 row" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("escape")
        await back_on_list(pilot)
    assert audit_actions() == []


async def test_selected_rows_hidden_by_a_search_are_announced(seeded) -> None:
    """A selection outlives a search: the menu and the confirmation say how many selected rows are not shown."""
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await blocked_screen(pilot)
        at = [c.key for c in screen.table.spec.columns].index("email")
        await select_first(pilot, 1)
        second = screen.table.current_row().values[at]
        await pilot.press("slash", *second, "enter")
        await wait_for(pilot, lambda: screen.table.window and len(screen.table.window) == 1, "the search")
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu), "the action menu")
        menu_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "The selected rows (1 of them not shown by the current search or filter)" in menu_text
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        dialog_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "This affects 2 rows" in dialog_text
        assert "1 selected row is not shown by the current search or filter: included all the same" in dialog_text
        await pilot.press("escape")
        await back_on_list(pilot)
    assert audit_actions() == []


async def test_adding_to_an_existing_project_when_there_is_none_says_how_to_make_one(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        await select_first(pilot, 1)
        await open_menu(pilot, "j", PickerDialog)
        await settle(pilot)
        status = str(app.screen.query_one("#picker-status").render())
        assert "There is no project yet: create one with 'Add to new project' (key p" in status
        await pilot.press(*"zz")
        await settle(pilot)
        assert str(app.screen.query_one("#picker-status").render()) == "Nothing matches."
        await pilot.press("escape")
        await back_on_list(pilot)


def exported_values(path: Path, fmt: str) -> tuple[int, set]:
    """(rows, every cell value) of an exported file."""
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [list(row.values()) for row in csv.DictReader(fh)]
    elif fmt == "xlsx":
        sheet = openpyxl.load_workbook(path, read_only=True).active
        rows = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    else:
        rows = [list(json.loads(line).values()) for line in path.read_text(encoding="utf-8").splitlines()]
    return len(rows), {v for row in rows for v in row}


async def test_export_each_format_and_cancel(seeded, tmp_path: Path) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        ids = await select_first(pilot, 3)
        await open_menu(pilot, "e", ExportDialog)
        await pilot.press("escape")  # cancel: no file, no audit entry
        await back_on_list(pilot)
        assert not list(tmp_path.glob("out.*")) and audit_actions() == []

        for n, fmt in enumerate(("csv", "xlsx", "jsonl"), start=1):
            await open_menu(pilot, "e", ExportDialog)
            dialog = app.screen
            dialog.query_one(f"#fmt-{fmt}", RadioButton).value = True
            await settle(pilot)
            assert dialog.query_one("#export-path", Input).value.endswith(f".{fmt}")  # the extension follows
            other = "jsonl" if fmt == "csv" else "csv"
            dialog.query_one("#export-path", Input).value = str(tmp_path / f"wrong.{other}")
            await pilot.press("enter")  # another format's extension: refused, the dialog stays
            await settle(pilot)
            assert app.screen is dialog and "names a" in str(dialog.query_one("#export-error").render())
            assert not list(tmp_path.glob("wrong.*"))
            dialog.query_one("#export-path", Input).value = str(tmp_path / f"out.{fmt}")
            await pilot.press("enter")
            await back_on_list(pilot)
            await wait_for(pilot, lambda n=n: audit_actions() == ["export"] * n, f"the {fmt} export")
    emails = {a.email for a in Address.select().where(Address.id.in_(ids))}
    for fmt in ("csv", "xlsx", "jsonl"):
        rows, found = exported_values(tmp_path / f"out.{fmt}", fmt)
        assert rows == 3 and emails <= found, fmt
    assert [e.affected for e in AuditLog.select()] == [3, 3, 3]


async def test_export_follows_the_screens_sort(seeded, tmp_path: Path) -> None:
    """Sorted on the screen, exported in that order: selected rows and a whole filter alike."""
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await blocked_screen(pilot)
        await pilot.press("T")  # the default sort, reversed
        await wait_for(pilot, lambda: screen.table.desc != screen.table.spec.default_desc and screen.table.window,
                       "the reversed sort")
        await settle(pilot)
        at = [c.key for c in screen.table.spec.columns].index("email")
        shown = [r.values[at] for r in screen.table.window]
        ids = [r.id for r in screen.table.window]
        assert len(shown) == screen.total > 3 and ids != sorted(ids)  # id order would differ
        for n, keys in enumerate((["space", "down", "space", "down", "space"], ["asterisk"]), start=1):
            await pilot.press(*keys)
            await settle(pilot)
            await open_menu(pilot, "e", ExportDialog)
            app.screen.query_one("#fmt-jsonl", RadioButton).value = True
            await settle(pilot)
            app.screen.query_one("#export-path", Input).value = str(tmp_path / f"out{n}.jsonl")
            await pilot.press("enter")
            await back_on_list(pilot)
            await wait_for(pilot, lambda n=n: audit_actions() == ["export"] * n, "the export")
            await pilot.press("u")
            await settle(pilot)
    assert [json.loads(line)["email"] for line in (tmp_path / "out1.jsonl").read_text().splitlines()] == shown[:3]
    assert [json.loads(line)["email"] for line in (tmp_path / "out2.jsonl").read_text().splitlines()] == shown


@pytest.mark.parametrize("letter,kind", [("n", "selection"), ("p", "project")])
async def test_add_to_new_selection_or_project(seeded, letter: str, kind: str) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        ids = await select_first(pilot, 2)
        await open_menu(pilot, letter, NameDialog)
        await pilot.press(*"never")
        await pilot.press("escape")
        await back_on_list(pilot)
        assert Selection.select().count() == 0

        await open_menu(pilot, letter, NameDialog)
        await pilot.press("enter")  # an empty name is refused, the dialog stays
        await settle(pilot)
        assert isinstance(app.screen, NameDialog)
        reloads: list[bool] = []
        screen = next(s for s in app.screen_stack if isinstance(s, BlockedScreen))
        reload, reread = screen.reload, screen._reread
        rereads: list[int] = []
        screen.reload = lambda forget_selection=False: (reloads.append(forget_selection), reload(forget_selection))
        screen._reread = lambda: (rereads.append(1), reread())
        await pilot.press(*"Spring [re]check")
        await pilot.press("enter")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: Selection.select().count() == 1, "the new selection")
        await settle(pilot)
        assert reloads == [False]  # once, at the end of the action (not again as each dialog closes)
        assert rereads == [1]  # and the rows read once
        # the name again: refused in the dialog, which stays with the text to change (QA: retyped)
        await open_menu(pilot, letter, NameDialog)
        dialog = app.screen
        await pilot.press(*" spring [RE]check ", "enter")
        await wait_for(pilot, lambda: "already exists" in str(dialog.query_one("#name-error").render()),
                       "the refusal")
        assert app.screen is dialog and dialog.query_one(Input).value == " spring [RE]check "
        await pilot.press("escape")
        await back_on_list(pilot)
    sel = Selection.get()
    assert (sel.name, sel.kind) == ("Spring [re]check", kind)
    assert {m.address_id for m in SelectionMember.select().where(SelectionMember.selection == sel.id)} == set(ids)
    assert audit_actions() == [f"add to {kind}"]


@pytest.mark.parametrize("letter,kind", [("s", "selection"), ("j", "project")])
async def test_add_to_existing_via_type_ahead(seeded, letter: str, kind: str) -> None:
    other_kind = "project" if kind == "selection" else "selection"
    target = create_selection("Quarterly cleanup", kind, None)
    create_selection("Quarterly decoy", other_kind, None)  # the other kind is never offered
    create_selection("Newsletter list", kind, None)
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        ids = await select_first(pilot, 2)
        await open_menu(pilot, letter, PickerDialog)
        await pilot.press("escape")
        await back_on_list(pilot)
        assert SelectionMember.select().count() == 0

        await open_menu(pilot, letter, PickerDialog)
        picker = app.screen
        await pilot.press(*"quart")
        await wait_for(pilot, lambda: picker.query_one("#picker-options").option_count == 1, "the filtered names")
        await pilot.press("enter")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: SelectionMember.select().count() == 2, "the members")
        assert any(n.message == f"Add to {kind}: 2 rows added." for n in app._notifications)
        # the same rows again: nothing new, and the message says so (QA: "done.")
        await open_menu(pilot, letter, PickerDialog)
        await pilot.press(*"quart")
        await wait_for(pilot, lambda: app.screen.query_one("#picker-options").option_count == 1, "the names")
        await pilot.press("enter")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: len(audit_actions()) == 2, "the second add")
        await wait_for(pilot, lambda: any("nothing added, every row was already a member" in n.message
                                          for n in app._notifications), "the message")
    assert {m.address_id for m in SelectionMember.select().where(SelectionMember.selection == target.id)} == set(ids)
    assert audit_actions() == [f"add to {kind}"] * 2


async def test_delete_with_confirm_and_cancel(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        ids = await select_first(pilot, 2)
        await open_menu(pilot, "d", ConfirmDialog)
        assert "This affects 2 rows" in str(app.screen.query_one("#confirm-count").render())
        await pilot.press("escape")
        await back_on_list(pilot)
        assert Address.select().where(Address.id.in_(ids)).count() == 2
        await open_menu(pilot, "d", ConfirmDialog)
        await pilot.press("enter")  # the focus is on Cancel: Enter out of habit deletes nothing
        await back_on_list(pilot)
        assert Address.select().where(Address.id.in_(ids)).count() == 2
        await open_menu(pilot, "d", ConfirmDialog)
        await pilot.press("y")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: "delete addresses" in audit_actions(), "the deletion")
    assert Address.select().where(Address.id.in_(ids)).count() == 0
    assert AuditLog.get(AuditLog.action == "delete addresses").affected == 2


async def test_clear_flag_revalidates_and_warns_on_dead_domains(seeded, dns_server: DNSServer) -> None:
    dns_server.null_mx("acme-nullmx.com")
    dns_server.add("acme-mail.com", "MX", "10 mx1.acme-mail.com.")
    dns_server.add("mx1.acme-mail.com", "A", "93.184.216.34")
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await blocked_screen(pilot)
        first, second = screen.table.window[0].id, screen.table.window[1].id
        Address.update(email="gone@acme-nullmx.com", domain="acme-nullmx.com").where(Address.id == first).execute()
        Address.update(email="fine@acme-mail.com", domain="acme-mail.com").where(Address.id == second).execute()
        ids = await select_first(pilot, 2)
        assert ids == [first, second]
        await open_menu(pilot, "c", ConfirmDialog)
        warning = str(app.screen.query_one("#confirm-warning").render())
        assert "1 of these addresses" in warning and "acme-nullmx.com: null_mx" in warning
        assert "acme-mail.com" not in warning.replace("acme-nullmx.com", "")
        await pilot.press("escape")
        await back_on_list(pilot)
        assert {first, second} <= blocked_ids()
        await open_menu(pilot, "c", ConfirmDialog)
        await pilot.press("y")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: "clear bounce flag" in audit_actions(), "the clearing")
        screen = app.screen
        await wait_for(pilot, lambda: not {first, second} & {r.id for r in screen.table.window}, "the rows gone")
        assert screen.table.selected == set()  # acted on: the selection is done with
        assert "Selected: 0" in str(screen.query_one("#status").render())
    assert not {first, second} & blocked_ids()
    assert state_of(first).bounce_count == 0


async def test_former_employee_with_confirm_and_cancel(seeded) -> None:
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        await blocked_screen(pilot)
        ids = await select_first(pilot, 2)
        persons = {a.person_id for a in Address.select().where(Address.id.in_(ids))}
        await open_menu(pilot, "f", ConfirmDialog)
        await pilot.press("escape")
        await back_on_list(pilot)
        assert Person.select().where(Person.former_employee == True).count() == 0  # noqa: E712
        await open_menu(pilot, "f", ConfirmDialog)
        await pilot.press("y")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: "set former employee" in audit_actions(), "the change")
    assert {p.id for p in Person.select().where(Person.former_employee == True)} == persons  # noqa: E712


async def test_star_targets_the_whole_filter_in_the_database(seeded, dns_server: DNSServer) -> None:
    before = blocked_ids()
    assert len(before) > 3
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await blocked_screen(pilot)
        await pilot.press("asterisk")
        await settle(pilot)
        target = screen.current_target()
        assert target is not None and target.ids is None and count_target(target) == len(before)
        await open_menu(pilot, "n", NameDialog)
        await pilot.press(*"all blocked", "enter")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: SelectionMember.select().count() == len(before), "the members")
        await open_menu(pilot, "c", ConfirmDialog)
        assert f"This affects {len(before)} rows" in str(app.screen.query_one("#confirm-count").render())
        await pilot.press("y")
        await back_on_list(pilot)
        await wait_for(pilot, lambda: "clear bounce flag" in audit_actions(), "the clearing")
    assert blocked_ids() == set()
    assert AuditLog.get(AuditLog.action == "clear bounce flag").affected == len(before)


def test_check_target_domains_is_bounded_and_counts_addresses(db, dns_server: DNSServer) -> None:
    from models.filters import Target, ViewFilter
    from models.validation import check_target_domains
    from tests import factories as f

    dns_server.null_mx("acme-nullmx.com")
    dns_server.add("acme-mail.com", "MX", "10 mx1.acme-mail.com.")
    dns_server.add("mx1.acme-mail.com", "A", "93.184.216.34")
    dns_server.servfail("acme-broken.com")
    acc = f.account()
    for i in range(3):
        f.person(acc, f"n{i}@acme-nullmx.com")
    for i in range(2):
        f.person(acc, f"m{i}@acme-mail.com")
    f.person(acc, "x@acme-broken.com")
    f.person(acc, "y@acme-gone.com")  # NXDOMAIN
    everything = Target(filter=ViewFilter("addresses", account_id=acc.id))
    check = check_target_domains(everything)
    assert (check.checked, check.total) == (4, 4)
    assert [(d.domain, d.status, d.addresses) for d in check.dead] == [
        ("acme-nullmx.com", "null_mx", 3), ("acme-gone.com", "no_domain", 1)]
    assert check.dead_addresses == 4  # unknown (SERVFAIL) is never dead
    bounded = check_target_domains(everything, max_domains=2)  # the two largest domains only
    assert (bounded.checked, bounded.total) == (2, 4)
    assert [d.domain for d in bounded.dead] == ["acme-nullmx.com"]


async def test_escape_during_the_domain_check_cancels_the_clearing(seeded, dns_server: DNSServer) -> None:
    from tui.dialogs.progress import ProgressDialog

    dns_server.drop("acme-silent.com")  # no answer: the check waits for its timeout
    app = BouncedeskApp(screen="blocked")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await blocked_screen(pilot)
        first = screen.table.window[0].id
        Address.update(email="x@acme-silent.com", domain="acme-silent.com").where(Address.id == first).execute()
        await select_first(pilot, 1)
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ActionMenu), "the action menu")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ProgressDialog), "the domain check")
        await pilot.press("escape")
        await back_on_list(pilot)
        assert any("cancelled, nothing changed" in n.message for n in app._notifications)
    assert first in blocked_ids() and audit_actions() == []
