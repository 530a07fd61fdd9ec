"""Bulk actions over the rows of a view: export, selections, delete, clear flag, former employee, undo.

Every action takes a ``models.filters.Target``: explicit row ids of a view,
or the whole ``ViewFilter`` so that "all 80,000 bounced" is a subquery and
never a list of ids in Python.  Each action is one transaction of set-based
statements (``INSERT ... SELECT``, ``UPDATE ... WHERE id IN (subquery)``)
with no per-row round trips, and writes one audit entry with the affected
count and the cause.

Undo: before an undoable action overwrites anything it copies the rows it is
about to change into ``AuditItem`` (one ``INSERT ... SELECT``) and then
changes exactly the rows listed there.  The items are therefore both the undo
journal and the precise record of what the action touched; ``undo`` restores
from them with one set-based statement.  Rows that needed no change (an
address already active and unflagged, a member already in the selection) are
not listed, so the affected count is what really changed and undo never
"restores" something the action did not do.  Adding to a selection overwrites
nothing: instead of items, each new member row names the audit entry that
added it (``SelectionMember.added_by``), and the undo deletes by that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from peewee import JOIN, SQL, Value, fn

from models import audit
from models.db import retry_on_conflict, write_transaction
from models.export import Format, write_rows
from models.filters import Target, address_ids_query, base_query, person_ids_query
from models.address_state import bulk_change, lock_state_writers, state_or_default
from models.schema import Address, AddressState, AuditItem, AuditLog, Person, Selection, SelectionMember, utcnow
from models.selections import KINDS, SelectionError, create_selection
from models.text import count_text


class ActionError(ValueError):
    """An action cannot run as asked (unknown selection, already undone, ...)."""


def _describe(target: Target) -> dict[str, Any]:
    """The target as audit details: the filter, and the ids when explicit."""
    f = {k: v for k, v in asdict(target.filter).items() if v not in (None, (), "")}
    out: dict[str, Any] = {"filter": f}
    if target.ids is not None:
        ids = sorted(target.ids)
        out["ids"] = ids if len(ids) <= 1000 else ids[:1000] + [f"... {len(ids) - 1000} more"]
    return out


def _scope(target: Target) -> str:
    """A short human phrase for the cause: which rows of which view."""
    if target.ids is not None:
        return f"{count_text(len(target.ids), 'selected row')} of the {target.filter.view} view"
    return f"every row of the {target.filter.view} view filter"


def _set_affected(entry: AuditLog, n: int) -> None:
    AuditLog.update(affected=n).where(AuditLog.id == entry.id).execute()
    entry.affected = n


def count_target(target: Target) -> int:
    """How many rows of the view the target covers (what the confirmation dialog shows)."""
    q = base_query(target.filter, target.model.id)
    if target.ids is not None:
        q = q.where(target.model.id.in_(sorted(target.ids)))
    return q.count()


def export_rows(target: Target, path: str | os.PathLike[str], fmt: Format, *,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Write the target's rows to ``path`` (csv, xlsx or jsonl); return the row count.

    Streamed from a cursor (see ``models.export``); the audit entry records
    the file, the format and the filter, because an export copies personal
    data out of the system.
    """
    total = count_target(target) if progress is not None else 0
    n = write_rows(target, path, fmt, total=total, progress=progress)
    details = {"path": str(os.path.abspath(path)), "format": fmt, **_describe(target)}
    try:
        audit.log("export", cause=f"operator exported {_scope(target)} to {fmt}", affected=n,
                  details=details, account_id=target.filter.account_id)
    except BaseException:
        # personal data copied out with no record of it: the file goes (the caller reports the error)
        Path(path).unlink(missing_ok=True)
        raise
    return n


@retry_on_conflict
def add_to_selection(target: Target, *, name: str | None = None, selection_id: int | None = None,
                     kind: str = "selection") -> tuple[int, int]:
    """Add the target's addresses to a new (``name``) or existing (``selection_id``) selection or project.

    Returns ``(selection id, rows added)``; addresses already in it are
    skipped.  Undo removes exactly the members this call added (and the
    selection itself when this call created it and it is empty again).
    """
    if (name is None) == (selection_id is None):
        raise ActionError("add_to_selection needs either a name (new) or a selection_id (existing)")
    if kind not in KINDS:
        raise ActionError(f"unknown selection kind {kind!r}")
    with write_transaction():
        if name is not None:
            try:
                sel = create_selection(name, kind, target.filter.account_id)
            except SelectionError as exc:
                raise ActionError(str(exc)) from exc
        else:
            sel = Selection.get_or_none(Selection.id == selection_id)
            if sel is None:
                raise ActionError(f"no {kind} with id {selection_id}")
            if sel.kind != kind:
                raise ActionError(f"{sel.name!r} is a {sel.kind}, not a {kind}")
        entry = audit.log(
            f"add to {kind}", cause=f"operator added {_scope(target)} to {kind} {sel.name!r}",
            details={"selection_id": sel.id, "selection": sel.name, "created": name is not None,
                     **_describe(target)},
            undoable=True, account_id=target.filter.account_id)
        query = Address.select(Value(sel.id), Address.id, Address.person, Value(utcnow()), Value(entry.id)).where(
            Address.id.in_(address_ids_query(target)))
        if name is None:  # an existing selection: skip its members (a new one has none)
            already = SelectionMember.select(SQL("1")).where(
                (SelectionMember.selection == sel.id) & (SelectionMember.address == Address.id))
            query = query.where(~fn.EXISTS(already))
        n = SelectionMember.insert_from(
            query.order_by(Address.id),
            [SelectionMember.selection, SelectionMember.address, SelectionMember.person, SelectionMember.added_at,
             SelectionMember.added_by],
        ).as_rowcount().execute()
        _set_affected(entry, n)
    return sel.id, n


@retry_on_conflict
def delete_addresses(target: Target) -> int:
    """Delete the target's addresses permanently; return how many.

    Not undoable: memberships and bounce state go with them (cascade) and
    recipients/events keep their copies of the e-mail but lose the link.  The
    audit items keep each deleted e-mail and its last state, so the log says
    what was deleted.
    """
    with write_transaction():
        lock_state_writers()
        entry = audit.log("delete addresses", cause=f"operator deleted {_scope(target)} permanently",
                          details=_describe(target), account_id=target.filter.account_id)
        n = AuditItem.insert_from(
            Address.select(Value(entry.id), Address.id, Address.person, Address.email,
                           state_or_default("status"), state_or_default("bounce_count"),
                           AddressState.blocked_reason, AddressState.blocked_category, AddressState.blocked_at,
                           state_or_default("global_block"))
            .join(AddressState, JOIN.LEFT_OUTER, on=(AddressState.id == Address.id))
            .where(Address.id.in_(address_ids_query(target))),
            [AuditItem.audit, AuditItem.address_id, AuditItem.person_id, AuditItem.email, AuditItem.prev_status,
             AuditItem.prev_bounce_count, AuditItem.prev_blocked_reason, AuditItem.prev_blocked_category,
             AuditItem.prev_blocked_at, AuditItem.prev_global_block],
        ).as_rowcount().execute()
        Address.delete().where(Address.id.in_(
            AuditItem.select(AuditItem.address_id).where(AuditItem.audit == entry.id))).execute()
        _set_affected(entry, n)
    return n


@retry_on_conflict
def clear_bounce_flag(target: Target) -> int:
    """Make the target's addresses sendable again: active, count 0, no block, no global block.

    The event history and the ``last_*`` columns stay (they are what
    happened); only the decision is reset.  Returns the number of addresses
    that had something to clear.  Undoable.

    The addresses with something to clear are exactly those with a state row
    (``models.address_state``): their rows are copied into the audit items
    and deleted, and nothing in the wide ``address`` table is written.  The
    items carry no person id: a person's history finds them by address.
    """
    with write_transaction():
        lock_state_writers()
        entry = audit.log("clear bounce flag", cause=f"operator cleared the bounce flag of {_scope(target)}",
                          details=_describe(target), undoable=True, account_id=target.filter.account_id)
        n = AuditItem.insert_from(
            AddressState.select(Value(entry.id), AddressState.id, AddressState.email, AddressState.status,
                                AddressState.bounce_count, AddressState.blocked_reason,
                                AddressState.blocked_category, AddressState.blocked_at, AddressState.blocked_cause,
                                AddressState.global_block)
            .where(AddressState.id.in_(address_ids_query(target))),
            [AuditItem.audit, AuditItem.address_id, AuditItem.email, AuditItem.prev_status,
             AuditItem.prev_bounce_count, AuditItem.prev_blocked_reason, AuditItem.prev_blocked_category,
             AuditItem.prev_blocked_at, AuditItem.prev_blocked_cause, AuditItem.prev_global_block],
        ).as_rowcount().execute()
        with bulk_change(n):
            AddressState.delete().where(AddressState.id.in_(
                AuditItem.select(AuditItem.address_id).where(AuditItem.audit == entry.id))).execute()
        _set_affected(entry, n)
    return n


@retry_on_conflict
def set_former_employee(target: Target, cause: str | None = None) -> int:
    """Mark the persons behind the target's addresses as former employees; return how many changed.

    A former employee's addresses are left out of new mailings
    (``models.mailings.eligible_addresses``).  Undoable.  ``cause``: the
    audit log's words when the caller can say better than "the persons of
    every row of the filter" (one person, from the person screen).
    """
    with write_transaction():
        cause = cause or f"operator marked the persons of {_scope(target)} as former employees"
        entry = audit.log("set former employee", cause=cause, details=_describe(target), undoable=True,
                          account_id=target.filter.account_id)
        n = AuditItem.insert_from(
            Person.select(Value(entry.id), Person.id, Value(""), Person.former_employee, Person.full_name)
            .where(Person.id.in_(person_ids_query(target)) & (Person.former_employee == False)),  # noqa: E712
            [AuditItem.audit, AuditItem.person_id, AuditItem.email, AuditItem.prev_former_employee, AuditItem.note],
        ).as_rowcount().execute()
        Person.update(former_employee=True, former_employee_at=utcnow()).where(Person.id.in_(
            AuditItem.select(AuditItem.person_id).where(AuditItem.audit == entry.id))).execute()
        _set_affected(entry, n)
    return n


def _undo_add(entry: AuditLog) -> tuple[int, str | None]:
    """Remove the members this entry added (``added_by``; entries written before that column: its items)."""
    details = json.loads(entry.details or "{}")
    items = AuditItem.select(AuditItem.address_id).where(AuditItem.audit == entry.id)
    n = SelectionMember.delete().where(
        (SelectionMember.selection == details["selection_id"])
        & ((SelectionMember.added_by == entry.id) | SelectionMember.address.in_(items))).execute()
    if details.get("created") and not SelectionMember.select().where(
            SelectionMember.selection == details["selection_id"]).exists():
        Selection.delete().where(Selection.id == details["selection_id"]).execute()
    return n, None


def _undo_clear(entry: AuditLog) -> tuple[int, str | None]:
    """Put the cleared states back (over whatever state the addresses got since); deleted addresses stay gone.

    An address whose e-mail was edited since keeps its state: the cleared
    block was the old e-mail's (an edit clears the state for that reason), and
    restoring it would block an e-mail that never bounced.
    """
    lock_state_writers()
    restored = [AddressState.id, AddressState.account, AddressState.email, AddressState.domain,
                AddressState.status, AddressState.bounce_count, AddressState.blocked_reason,
                AddressState.blocked_category, AddressState.blocked_at, AddressState.blocked_cause,
                AddressState.global_block]
    n = entry.affected or 0
    with bulk_change(n, adding=True):
        restored_n = (AddressState.insert_from(
            AuditItem.select(AuditItem.address_id, Address.account, Address.email, Address.domain,
                             AuditItem.prev_status, AuditItem.prev_bounce_count, AuditItem.prev_blocked_reason,
                             AuditItem.prev_blocked_category, AuditItem.prev_blocked_at,
                             AuditItem.prev_blocked_cause, AuditItem.prev_global_block)
            .join(Address, on=(Address.id == AuditItem.address_id))
            .where((AuditItem.audit == entry.id) & (Address.email == AuditItem.email))
            .order_by(AuditItem.address_id),
            restored)
            .on_conflict(conflict_target=[AddressState.id], preserve=restored[1:])
            .as_rowcount().execute())
    edited = (AuditItem.select().join(Address, on=(Address.id == AuditItem.address_id))
              .where((AuditItem.audit == entry.id) & (Address.email != AuditItem.email)).count())
    note = (f"{count_text(edited, 'address', 'addresses')} edited since kept {'its' if edited == 1 else 'their'} "
            "state") if edited else None
    return restored_n, note


def _undo_former(entry: AuditLog) -> tuple[int, str | None]:
    return (Person.update(former_employee=AuditItem.prev_former_employee, former_employee_at=None)
            .from_(AuditItem)
            .where((AuditItem.audit == entry.id) & (AuditItem.person_id == Person.id))
            .execute()), None


#: action name -> the undo of that action: (rows restored, what it left as it was and why, if anything)
UNDO: dict[str, Callable[[AuditLog], tuple[int, str | None]]] = {
    "add to selection": _undo_add,
    "add to project": _undo_add,
    "clear bounce flag": _undo_clear,
    "set former employee": _undo_former,
}


@retry_on_conflict
def undo(audit_id: int) -> int:
    """Undo an undoable audit entry; return the rows restored.

    Refuses entries that are not undoable and entries already undone (the
    check-and-mark is one conditional UPDATE inside the transaction, so two
    operators undoing at once cannot both succeed).  Writes its own audit
    entry pointing at the original (``undo_of``).
    """
    with write_transaction():
        entry = AuditLog.get_or_none(AuditLog.id == audit_id)
        if entry is None:
            raise ActionError(f"no audit entry {audit_id}")
        if not entry.undoable or entry.action not in UNDO:
            raise ActionError(f"audit entry {audit_id} ({entry.action}) cannot be undone")
        marked = (AuditLog.update(undone_at=utcnow(), undone_by=audit.os_user())
                  .where((AuditLog.id == audit_id) & AuditLog.undone_at.is_null()).execute())
        if marked != 1:
            raise ActionError(f"audit entry {audit_id} ({entry.action}) was already undone")
        n, note = UNDO[entry.action](entry)
        details: dict[str, object] = {"undo_of": audit_id}
        cause = f"operator undid audit entry {audit_id}"
        if note:
            details["note"] = note
            cause += f"; {note}"
        undo_entry = audit.log(f"undo {entry.action}", cause=cause,
                               affected=n, details=details, account_id=entry.account_id)
        AuditLog.update(undo_of=audit_id).where(AuditLog.id == undo_entry.id).execute()
    return n
