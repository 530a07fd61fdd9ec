"""Bulk actions by ids and by filter, their audit entries and items, and undo."""

from __future__ import annotations

import json

import pytest

from models.actions import (
    ActionError,
    add_to_selection,
    clear_bounce_flag,
    count_target,
    delete_addresses,
    set_former_employee,
    undo,
)
from models.filters import Target, ViewFilter
from models.address_state import set_state, state_of
from models.schema import Address, AddressState, AuditItem, AuditLog, Event, Person, Recipient, Selection, SelectionMember
from tests import bulk_world
from tests.factories import T0
from tests.sql_spy import statements

BLOCKED = ViewFilter("blocked")


@pytest.fixture
def world(db):
    return bulk_world.build()


def recipients(w, *statuses: str) -> ViewFilter:
    return ViewFilter("recipients", mailing_id=w.mailing.id, statuses=tuple(statuses))


def ids_of(w, *addresses) -> frozenset[int]:
    return frozenset(w.recipient(a).id for a in addresses)


def last_entry() -> AuditLog:
    return AuditLog.select().order_by(AuditLog.id.desc()).get()


def test_count_target_by_filter_and_ids(world) -> None:
    assert count_target(Target(BLOCKED)) == 2
    assert count_target(Target(recipients(world, "bounced"))) == 3
    assert count_target(Target(recipients(world))) == 6
    assert count_target(Target(recipients(world), ids_of(world, world.ok, world.soft))) == 2
    assert count_target(Target(ViewFilter("complaints"))) == 1
    # ids outside the filter do not count
    assert count_target(Target(recipients(world, "opened"), ids_of(world, world.soft))) == 0


def test_clear_bounce_flag_by_filter_and_undo(world) -> None:
    events_before = Event.select().count()
    before = {a.id: state_of(a.id) for a in (world.hard, world.soft)}
    n = clear_bounce_flag(Target(BLOCKED))
    assert n == 2
    for a in (world.hard, world.soft):
        row = state_of(a.id)
        assert not AddressState.select().where(AddressState.id == a.id).exists()
        assert (row.status, row.bounce_count, row.blocked_reason, row.blocked_category, row.blocked_at,
                row.blocked_cause, row.global_block) == ("active", 0, None, None, None, None, False)
        assert Address.get_by_id(a.id).last_severity == a.last_severity  # the history columns stay
    assert Event.select().count() == events_before
    entry = last_entry()
    assert (entry.action, entry.affected, entry.undoable) == ("clear bounce flag", 2, True)
    assert "blocked" in entry.cause
    assert json.loads(entry.details)["filter"]["view"] == "blocked"
    items = {i.address_id: i for i in AuditItem.select().where(AuditItem.audit == entry.id)}
    assert set(items) == {world.hard.id, world.soft.id}
    soft_item = items[world.soft.id]
    assert (soft_item.email, soft_item.prev_status, soft_item.prev_bounce_count, soft_item.prev_blocked_reason,
            soft_item.prev_blocked_cause) == ("full@example.net", "blocked", 6, "mailboxfull", "6th soft bounce")
    assert items[world.hard.id].prev_global_block is True

    assert undo(entry.id) == 2
    for a in (world.hard, world.soft):
        row, old = state_of(a.id), before[a.id]
        assert (row.status, row.bounce_count, row.blocked_reason, row.blocked_category, row.blocked_at,
                row.blocked_cause, row.global_block) == (
            old.status, old.bounce_count, old.blocked_reason, old.blocked_category, old.blocked_at, old.blocked_cause,
            old.global_block)
    original = AuditLog.get_by_id(entry.id)
    assert original.undone_at is not None and original.undone_by
    undo_entry = last_entry()
    assert (undo_entry.action, undo_entry.undo_of, undo_entry.affected) == ("undo clear bounce flag", entry.id, 2)
    with pytest.raises(ActionError, match="already undone"):
        undo(entry.id)
    with pytest.raises(ActionError, match="cannot be undone"):
        undo(undo_entry.id)


def test_clear_bounce_flag_by_recipient_ids_touches_only_those(world) -> None:
    n = clear_bounce_flag(Target(recipients(world), ids_of(world, world.soft, world.counting, world.ok)))
    assert n == 2  # ok had nothing to clear and is not listed
    assert state_of(world.soft.id).status == "active"
    assert state_of(world.counting.id).bounce_count == 0
    assert state_of(world.hard.id).status == "blocked"
    entry = last_entry()
    assert {i.address_id for i in entry.items} == {world.soft.id, world.counting.id}
    assert undo(entry.id) == 2
    assert state_of(world.counting.id).bounce_count == 2


def test_add_to_new_selection_by_filter_then_existing_by_ids(world) -> None:
    sel_id, n = add_to_selection(Target(recipients(world, "bounced")), name="Bounced M1", kind="selection")
    assert n == 3
    sel = Selection.get_by_id(sel_id)
    assert (sel.name, sel.kind) == ("Bounced M1", "selection")
    members = {m.address_id: m for m in SelectionMember.select().where(SelectionMember.selection == sel_id)}
    assert set(members) == {world.hard.id, world.soft.id, world.hostile.id}
    assert members[world.hard.id].person_id == world.hard.person_id
    first = last_entry()
    assert (first.action, first.affected, first.undoable) == ("add to selection", 3, True)

    # existing selection, explicit ids: the duplicate is ignored
    sel_id2, n2 = add_to_selection(Target(recipients(world), ids_of(world, world.soft, world.ok)),
                                   selection_id=sel_id, kind="selection")
    assert (sel_id2, n2) == (sel_id, 1)
    second = last_entry()
    assert list(second.items) == []  # nothing overwritten: the new member names the entry that added it
    assert [m.address_id for m in SelectionMember.select().where(SelectionMember.added_by == second.id)] == [
        world.ok.id]
    assert {m.address_id for m in SelectionMember.select().where(SelectionMember.added_by == first.id)} == {
        world.hard.id, world.soft.id, world.hostile.id}
    # the audit entry's screen lists the members it added as its items, paged
    from models.audit_log import audit_items

    shown = audit_items(first.id, limit=2)
    shown += audit_items(first.id, after_id=shown[-1].id, limit=2)
    assert [(i.address_id, i.email, i.selection_id) for i in shown] == [
        (a.id, a.email, sel_id) for a in sorted((world.hard, world.soft, world.hostile), key=lambda a: a.id)]

    # undoing the second removes only the member it added, the selection stays
    assert undo(second.id) == 1
    assert SelectionMember.select().where(SelectionMember.selection == sel_id).count() == 3
    assert Selection.get_or_none(Selection.id == sel_id) is not None
    # undoing the first empties the selection it created, so it goes too
    assert undo(first.id) == 3
    assert Selection.get_or_none(Selection.id == sel_id) is None


def test_add_to_project_and_refusals(world) -> None:
    pid, n = add_to_selection(Target(BLOCKED), name="Phone follow-up", kind="project")
    assert n == 2 and Selection.get_by_id(pid).kind == "project"
    assert last_entry().action == "add to project"
    with pytest.raises(ActionError, match="already exists"):
        add_to_selection(Target(BLOCKED), name="phone FOLLOW-up", kind="project")
    with pytest.raises(ActionError, match="not a selection"):
        add_to_selection(Target(BLOCKED), selection_id=pid, kind="selection")
    with pytest.raises(ActionError, match="no selection with id"):
        add_to_selection(Target(BLOCKED), selection_id=99_999, kind="selection")
    with pytest.raises(ActionError, match="either a name"):
        add_to_selection(Target(BLOCKED), kind="selection")
    # a failed call leaves no half-made audit entry or selection
    assert Selection.select().count() == 1
    assert AuditLog.select().where(AuditLog.action == "add to project").count() == 1


def test_delete_addresses_by_filter_keeps_emails_in_audit(world) -> None:
    n = delete_addresses(Target(BLOCKED))
    assert n == 2
    assert not Address.select().where(Address.id.in_([world.hard.id, world.soft.id])).exists()
    assert Address.select().count() == 4
    entry = last_entry()
    assert (entry.action, entry.affected, entry.undoable) == ("delete addresses", 2, False)
    assert {(i.email, i.prev_status) for i in entry.items} == {("gone@example.org", "blocked"),
                                                                ("full@example.net", "blocked")}
    # the recipients keep their copy of the e-mail, only the link is gone
    rec = Recipient.get((Recipient.mailing == world.mailing) & (Recipient.email == "gone@example.org"))
    assert rec.address_id is None
    with pytest.raises(ActionError, match="cannot be undone"):
        undo(entry.id)


def test_delete_addresses_by_ids_and_memberships_cascade(world) -> None:
    sel_id, _ = add_to_selection(Target(recipients(world)), name="All", kind="selection")
    n = delete_addresses(Target(recipients(world), ids_of(world, world.ok)))
    assert n == 1
    assert Address.get_or_none(Address.id == world.ok.id) is None
    assert Address.select().count() == 5
    assert SelectionMember.select().where(SelectionMember.selection == sel_id).count() == 5


def test_delete_from_complaints_view(world) -> None:
    assert delete_addresses(Target(ViewFilter("complaints"), frozenset({world.complaint.id}))) == 1
    assert Address.get_or_none(Address.id == world.revoked.id) is None
    assert Event.get_by_id(world.complaint.id).address_id is None


def test_set_former_employee_by_ids_and_filter_and_undo(world) -> None:
    assert set_former_employee(Target(recipients(world), ids_of(world, world.ok))) == 1
    p = Person.get_by_id(world.ok.person_id)
    assert p.former_employee is True and p.former_employee_at is not None
    first = last_entry()
    assert (first.action, first.affected, first.undoable) == ("set former employee", 1, True)

    n = set_former_employee(Target(recipients(world, "bounced", "opened")))
    assert n == 3  # ok is already a former employee: not counted, not in the items
    second = last_entry()
    assert {i.person_id for i in second.items} == {world.hard.person_id, world.soft.person_id,
                                                   world.hostile.person_id}
    assert all(i.prev_former_employee is False for i in second.items)

    assert undo(second.id) == 3
    assert Person.get_by_id(world.hard.person_id).former_employee is False
    assert Person.get_by_id(world.ok.person_id).former_employee is True  # the first action stays
    assert undo(first.id) == 1
    p = Person.get_by_id(world.ok.person_id)
    assert p.former_employee is False and p.former_employee_at is None


def test_complaints_view_targets_the_complaining_person(world) -> None:
    assert set_former_employee(Target(ViewFilter("complaints"))) == 1
    assert Person.get_by_id(world.revoked.person_id).former_employee is True


def test_empty_target_changes_nothing(world) -> None:
    assert clear_bounce_flag(Target(recipients(world, "pending"))) == 0
    assert last_entry().affected == 0
    assert AddressState.select().where(AddressState.status == "blocked").count() == 2


def test_undo_unknown_entry(world) -> None:
    with pytest.raises(ActionError, match="no audit entry"):
        undo(123_456)


def test_undo_skips_rows_deleted_since(world) -> None:
    clear_bounce_flag(Target(BLOCKED))
    entry = last_entry()
    delete_addresses(Target(ViewFilter("addresses"), frozenset({world.hard.id})))
    assert undo(entry.id) == 1
    assert state_of(world.soft.id).blocked_at == T0


def test_undo_leaves_an_address_edited_since_as_it_is(world) -> None:
    """The cleared block was the old e-mail's: restored, it would block a new e-mail that never bounced (QA)."""
    from models.audit_log import undo_note
    from models.persons import edit_address

    clear_bounce_flag(Target(BLOCKED))
    entry = last_entry()
    edit_address(world.hard.id, "grace.new@example.org")
    assert undo(entry.id) == 1
    assert not AddressState.select().where(AddressState.id == world.hard.id).exists()
    assert state_of(world.hard.id).status == "active"
    assert state_of(world.soft.id).blocked_at == T0
    assert undo_note(entry.id) == "1 address edited since kept its state"
    assert last_entry().cause == f"operator undid audit entry {entry.id}; 1 address edited since kept its state"


def _blocked_addresses(acc, n: int, start: int) -> None:
    from tests import factories

    for i in range(start, start + n):
        a = factories.person(acc, f"b{i}@bulk.example", name=f"Bulk {i}", company=None)
        set_state(a.id, status="blocked", blocked_reason="userunknown", blocked_at=T0, bounce_count=1)


def test_actions_by_filter_are_set_based_whatever_the_size(world) -> None:
    """No id list and no per-row statement: 10x more rows, the same statements with the same parameters."""
    def run_all() -> list[int]:
        counts = []
        for fn in (lambda: add_to_selection(Target(BLOCKED), name=f"s{len(counts)}-{Selection.select().count()}"),
                   lambda: undo(last_entry().id),
                   lambda: clear_bounce_flag(Target(BLOCKED)),
                   lambda: undo(last_entry().id),
                   lambda: set_former_employee(Target(BLOCKED)),
                   lambda: undo(last_entry().id),
                   lambda: delete_addresses(Target(BLOCKED))):
            stmts = statements(fn)
            assert all(len(params) < 30 for _sql, params in stmts), stmts
            counts.append(len(stmts))
        return counts

    _blocked_addresses(world.acc, 5, 0)
    assert count_target(Target(BLOCKED)) == 7
    small = run_all()
    _blocked_addresses(world.acc, 70, 100)
    assert count_target(Target(BLOCKED)) == 70
    assert run_all() == small


def test_a_persons_history_shows_the_selection_adds_of_their_addresses(world) -> None:
    from models.persons import person_audit

    add_to_selection(Target(BLOCKED), name="Phone follow-up", kind="selection")
    clear_bounce_flag(Target(BLOCKED))
    lines = person_audit(world.soft.person_id)
    assert [line.what for line in lines] == ["clear bounce flag", "add to selection"]
    assert person_audit(world.ok.person_id) == []
