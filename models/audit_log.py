"""Reading the audit log for the screens: one entry, its items, and whether it can be undone.

The audit screen lists entries with ``models.queries.audit_page`` (keyset on
``(at, id)``); this module answers the questions about one entry.  Whether an
entry can be undone is decided here, from the same ``UNDO`` table
``models.actions.undo`` uses, so the screen can refuse with a clear reason
before asking for confirmation; ``undo`` itself re-checks inside its
transaction (two operators at once).
"""

from __future__ import annotations

import json
from typing import Any

from models.actions import UNDO
from models.schema import Address, AuditItem, AuditLog, SelectionMember


def audit_entry(audit_id: int) -> AuditLog | None:
    """One audit entry, or None when it does not exist."""
    return AuditLog.get_or_none(AuditLog.id == audit_id)


def audit_items(audit_id: int, after_id: int | None = None, limit: int = 100) -> list[AuditItem]:
    """The items (changed rows) of an entry in id order, keyset-paged on ``(audit, id)``.

    An "add to selection" overwrites nothing and writes no items: its rows
    are the members that name it (``SelectionMember.added_by``), shown as
    items keyed by the member id (while they are members: an undo removes them).
    """
    q = AuditItem.select().where(AuditItem.audit == audit_id)
    if not q.exists():
        return _added_members(audit_id, after_id, limit)
    if after_id is not None:
        q = q.where(AuditItem.id > after_id)
    return list(q.order_by(AuditItem.id).limit(limit))


def _added_members(audit_id: int, after_id: int | None, limit: int) -> list[AuditItem]:
    """The members an entry added, as unsaved items (keyset on ``(added_by, id)``)."""
    q = (SelectionMember.select(SelectionMember.id, SelectionMember.address, SelectionMember.person,
                                SelectionMember.selection, Address.email)
         .join(Address, on=(Address.id == SelectionMember.address))
         .where(SelectionMember.added_by == audit_id))
    if after_id is not None:
        q = q.where(SelectionMember.id > after_id)
    return [AuditItem(id=mid, audit=audit_id, address_id=aid, person_id=pid, selection_id=sid, email=email)
            for mid, aid, pid, sid, email in q.order_by(SelectionMember.id).limit(limit).tuples()]


def undo_note(audit_id: int) -> str | None:
    """What the undo of entry ``audit_id`` left as it was, and why (e.g. addresses edited since), if anything."""
    undo = AuditLog.select().where(AuditLog.undo_of == audit_id).order_by(AuditLog.id.desc()).first()
    if undo is None or not undo.details:
        return None
    return json.loads(undo.details).get("note")


def undo_refusal(entry: AuditLog) -> str | None:
    """Why ``entry`` cannot be undone, in words for the operator; None when it can."""
    if entry.undo_of is not None:
        return f"entry {entry.id} is itself an undo (of entry {entry.undo_of}); it cannot be undone"
    if not entry.undoable or entry.action not in UNDO:
        undoable = ", ".join(sorted(UNDO))
        return f"entry {entry.id} ({entry.action}) cannot be undone; only these actions can: {undoable}"
    if entry.undone_at is not None:
        when = entry.undone_at.strftime("%Y-%m-%d %H:%M") if hasattr(entry.undone_at, "strftime") else entry.undone_at
        return f"entry {entry.id} ({entry.action}) was already undone on {when} by {entry.undone_by or '?'}"
    return None


def details_text(entry: AuditLog) -> str:
    """The entry's JSON details as ``key: value`` pairs on one line (raw text when not JSON)."""
    try:
        details: Any = json.loads(entry.details or "{}")
    except ValueError:
        return entry.details or ""
    if not isinstance(details, dict):
        return str(details)
    return "; ".join(f"{k}: {json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"
                     for k, v in details.items())
