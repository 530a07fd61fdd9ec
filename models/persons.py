"""One person in detail: their addresses and why each one fails, their history, editing an address.

The person screen shows what an operator needs to decide about one person:
which of their addresses fail and why (the bounce category, the SMTP status,
the remote server's diagnostic, the rule that blocked it, the DNS verdict),
what happened to them (events) and what operators did (audit entries).
Editing an address is the fix for a typo or a changed mailbox: the new
address replaces the old one, its bounce state starts afresh and the change
is audit-logged with the values it overwrote.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from peewee import JOIN, IntegrityError, Tuple

from models import audit
from models.actions import set_former_employee
from models.address_state import DEFAULT_STATE, STATE_FIELDS, lock_state_writers, state_of
from models.addresses import domain_of, normalize_email
from models.db import write_transaction
from models.filters import Target, ViewFilter
from models.schema import (
    Account, Address, AddressState, AuditItem, AuditLog, Company, Consent, Event, Person, SelectionMember, utcnow,
)
from models.validation import INVALID_STATUSES, ValidationResult


class PersonError(ValueError):
    """An edit cannot be made as asked (unknown address, duplicate, invalid syntax)."""


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """One address of a person and everything that says why it fails."""

    id: int
    email: str
    status: str
    bounce_count: int
    global_block: bool
    blocked_category: str | None
    blocked_reason: str | None
    blocked_cause: str | None
    blocked_at: dt.datetime | None
    last_kind: str | None
    last_category: str | None
    last_reason: str | None
    last_status: str | None
    last_diagnostic: str | None
    last_event_at: dt.datetime | None
    validation_status: str | None
    validation_reason: str | None
    validation_suggestion: str | None

    @property
    def failing(self) -> bool:
        """Blocked, counting soft bounces, or known by DNS/syntax not to take mail."""
        return (self.status != "active" or self.global_block or self.bounce_count > 0
                or self.validation_status in INVALID_STATUSES)

    def why(self) -> list[tuple[str, str]]:
        """(label, value) lines that explain the address's state; outside text kept verbatim."""
        lines: list[tuple[str, str]] = []
        state = self.status + (" (global block)" if self.global_block else "")
        if self.bounce_count:
            state += f", {self.bounce_count} consecutive soft bounce{'s' if self.bounce_count != 1 else ''}"
        lines.append(("Status", state))
        # A working address may still have an old report (the flag cleared, the address edited): it is
        # shown as what it is, the last report, not as the reason for a state it no longer has.
        labels = ("Category", "SMTP status", "Diagnostic")
        if self.status == "active" and not self.bounce_count:
            labels = ("Last category", "Last SMTP status", "Last diagnostic")
        category = self.blocked_category or self.last_category
        reason = self.blocked_reason or self.last_reason
        if category or reason:
            lines.append((labels[0], " / ".join(v for v in (category, reason) if v)))
        if self.last_status:
            lines.append((labels[1], self.last_status))
        if self.last_diagnostic:
            lines.append((labels[2], self.last_diagnostic))
        if self.blocked_cause:
            lines.append(("Blocked by", self.blocked_cause))
        if self.validation_status:
            verdict = self.validation_status
            if self.validation_reason:
                verdict += f": {self.validation_reason}"
            if self.validation_suggestion:
                verdict += f" (did you mean {self.validation_suggestion}?)"
            lines.append(("Validation", verdict))
        return lines


@dataclass(frozen=True, slots=True)
class PersonDetail:
    """A person, their account and company, consent, and every address."""

    id: int
    name: str
    account: str
    company: str
    former_employee: bool
    former_employee_at: dt.datetime | None
    consent: str | None
    addresses: tuple[AddressInfo, ...]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a person's history: an event or an audit entry."""

    at: dt.datetime
    kind: str  # "event" | "audit"
    id: int
    what: str
    detail: str


_ADDRESS_FIELDS = [f for f in AddressInfo.__slots__]  # type: ignore[attr-defined]


def _info(row: Address, state: AddressState | None) -> AddressInfo:
    """The address with its state (``state`` None: no state row, the defaults)."""
    values = {name: getattr(row, name) for name in _ADDRESS_FIELDS if name not in STATE_FIELDS}
    values.update({name: getattr(state, name) if state is not None else DEFAULT_STATE[name]
                   for name in STATE_FIELDS})
    return AddressInfo(**values)


def _infos(addresses: list[Address]) -> list[AddressInfo]:
    """``_info`` of each address, their states read in one query."""
    ids = [a.id for a in addresses]
    states = {s.id: s for s in AddressState.select().where(AddressState.id.in_(ids))} if ids else {}
    return [_info(a, states.get(a.id)) for a in addresses]


def person_detail(person_id: int) -> PersonDetail | None:
    """The person with their addresses (failing ones first), or None when the person is gone."""
    row = (Person.select(Person, Account.name.alias("account_name"), Company.name.alias("company_name"),
                         Consent.state.alias("consent_state"))
           .join(Account, on=(Person.account == Account.id))
           .switch(Person).join(Company, join_type=JOIN.LEFT_OUTER, on=(Person.company == Company.id))
           .switch(Person).join(Consent, join_type=JOIN.LEFT_OUTER, on=(Consent.person == Person.id))
           .where(Person.id == person_id).objects().first())
    if row is None:
        return None
    addresses = _infos(list(Address.select().where(Address.person == person_id).order_by(Address.id)))
    addresses.sort(key=lambda a: not a.failing)
    name = row.full_name or " ".join(p for p in (row.first_name, row.last_name) if p)
    return PersonDetail(row.id, name, row.account_name or "", row.company_name or "", row.former_employee,
                        row.former_employee_at, row.consent_state, tuple(addresses))


def person_events(person_id: int, before: tuple[dt.datetime, int] | None = None,
                  limit: int = 50) -> list[HistoryLine]:
    """The person's events, newest first, keyset-paged on ``(occurred_at, id)`` (index person, occurred_at)."""
    q = Event.select().where(Event.person == person_id)
    if before is not None:
        q = q.where(Tuple(Event.occurred_at, Event.id) < Tuple(*before))
    lines = []
    for e in q.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit):
        what = e.kind + (f" {e.severity}" if e.severity else "")
        parts = [e.email, e.category or e.reason, e.smtp_status, e.diagnostic]
        lines.append(HistoryLine(e.occurred_at, "event", e.id, what, " · ".join(p for p in parts if p)))
    return lines


def person_audit(person_id: int, before: tuple[dt.datetime, int] | None = None,
                 limit: int = 50) -> list[HistoryLine]:
    """Audit entries that touched the person or one of their addresses, newest first, keyset-paged."""
    own = Address.select(Address.id).where(Address.person == person_id)
    touched = AuditItem.select(AuditItem.audit).where(
        (AuditItem.person_id == person_id) | AuditItem.address_id.in_(own))
    added = SelectionMember.select(SelectionMember.added_by).where(SelectionMember.address.in_(own))
    q = AuditLog.select().where(AuditLog.id.in_(touched) | AuditLog.id.in_(added))
    if before is not None:
        q = q.where(Tuple(AuditLog.at, AuditLog.id) < Tuple(*before))
    lines = []
    for entry in q.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit):
        undone = " (undone)" if entry.undone_at else ""
        lines.append(HistoryLine(entry.at, "audit", entry.id, entry.action + undone,
                                 f"by {entry.os_user}: {entry.cause}"))
    return lines


Cursor = tuple[dt.datetime, int]


@dataclass(frozen=True, slots=True)
class HistoryStream:
    """Where one kind of history line (events or audit entries) continues: after ``before``, unless done."""

    before: Cursor | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a person's history and where each kind continues."""

    lines: list[HistoryLine]
    events: HistoryStream
    audit: HistoryStream

    @property
    def more(self) -> bool:
        return not (self.events.done and self.audit.done)


def _advance(stream: HistoryStream, fetched: list[HistoryLine], shown: list[HistoryLine], limit: int) -> HistoryStream:
    """The stream after a page: past its last shown line; done when everything it had is shown."""
    if stream.done or (len(fetched) <= limit and len(shown) == len(fetched)):
        return HistoryStream(done=True)
    if shown:
        return HistoryStream((shown[-1].at, shown[-1].id))
    return stream


def person_history(person_id: int, limit: int = 50, events: HistoryStream = HistoryStream(),
                   audit: HistoryStream = HistoryStream()) -> HistoryPage:
    """The next ``limit`` lines of the person's events and audit entries merged, newest first.

    Two keyset streams merged: each kind is read from its own cursor (its
    last line shown so far), ``limit + 1`` of each, and the newest ``limit``
    of the union form the page.  Every line not shown is older than its own
    kind's cursor, so the next page (pass the returned streams) continues
    exactly where this one ended, whatever the mix of kinds.
    """
    ev = [] if events.done else person_events(person_id, events.before, limit + 1)
    au = [] if audit.done else person_audit(person_id, audit.before, limit + 1)
    page = sorted(ev + au, key=lambda line: (line.at, line.kind == "audit", line.id), reverse=True)[:limit]
    return HistoryPage(page, _advance(events, ev, [x for x in page if x.kind == "event"], limit),
                       _advance(audit, au, [x for x in page if x.kind == "audit"], limit))


def edit_address(address_id: int, new_email: str, verdict: ValidationResult | None = None, *,
                 cause: str = "operator edited the address") -> AddressInfo:
    """Replace an address's e-mail, clear its bounce state, store the verdict, audit it.

    The new e-mail is stored in normalised form; bad syntax and an e-mail the
    account already has are refused (``PersonError``).  The old state (e-mail
    in ``note``, status, bounce count, block) is kept in one audit item, so
    the log says what was there before.  ``verdict`` is the validation the
    operator saw; it is stored only when it is for the new e-mail.
    """
    email = normalize_email(new_email)
    if "@" not in email or not email.split("@", 1)[0] or not email.split("@", 1)[1]:
        raise PersonError(f"{new_email!r} is not an e-mail address")
    if verdict is not None and verdict.status == "invalid_syntax":
        raise PersonError(f"{new_email!r}: {verdict.reason}")
    with write_transaction():
        row = Address.get_or_none(Address.id == address_id)
        if row is None:
            raise PersonError(f"address {address_id} no longer exists")
        clash = _clash(row, email)
        if clash is not None:
            raise PersonError(clash)
        entry = audit.log("edit address", cause=cause, affected=1,
                          details={"address_id": address_id, "old": row.email, "new": email,
                                   "validation": verdict.status if verdict else None},
                          account_id=row.account_id)
        lock_state_writers()
        old = state_of(address_id)
        AuditItem.create(audit=entry.id, address_id=row.id, person_id=row.person_id, email=row.email,
                         prev_status=old.status, prev_bounce_count=old.bounce_count,
                         prev_blocked_reason=old.blocked_reason, prev_blocked_category=old.blocked_category,
                         prev_blocked_at=old.blocked_at, prev_blocked_cause=old.blocked_cause,
                         prev_global_block=old.global_block, note=f"e-mail changed from {row.email} to {email}")
        AddressState.delete().where(AddressState.id == address_id).execute()  # the state starts afresh
        values: dict[str, Any] = dict(email=email, domain=domain_of(email))
        if verdict is not None and normalize_email(verdict.normalized or verdict.address) == email:
            values.update(validation_status=verdict.status, validation_reason=verdict.reason[:2000],
                          validation_suggestion=verdict.suggestion, validated_at=utcnow())
        else:
            values.update(validation_status=None, validation_reason=None, validation_suggestion=None,
                          validated_at=None)
        try:
            Address.update(**values).where(Address.id == address_id).execute()
        except IntegrityError as exc:  # a concurrent insert of the same e-mail
            raise PersonError(f"{email} is already an address of this account") from exc
    return _info(Address.get_by_id(address_id), None)


def address_clash(address_id: int, new_email: str) -> str | None:
    """Why address ``address_id`` cannot become ``new_email``: another address of its account has that
    e-mail (named by its person, which is what the operator knows); None when it can."""
    row = Address.get_or_none(Address.id == address_id)
    if row is None:
        return f"address {address_id} no longer exists"
    return _clash(row, normalize_email(new_email))


def _clash(row: Address, email: str) -> str | None:
    """``address_clash`` for the address ``row`` and the normalised ``email``."""
    address_id = row.id
    clash = (Address.select(Address.id, Address.person, Person.full_name.alias("owner"))
             .join(Person, JOIN.LEFT_OUTER)
             .where((Address.account == row.account_id) & (Address.email == email) & (Address.id != address_id))
             .objects().first())
    if clash is None:
        return None
    owner = clash.owner or None
    if clash.person_id is not None and clash.person_id == row.person_id:
        return f"{email} is already one of this person's addresses"
    return f"{email} is already an address of this account" + (f", of {owner}" if owner else ", of no person")


def mark_former_employee(person_id: int) -> int:
    """Set the person as a former employee (undoable, audited like the bulk action); 1 if it changed."""
    person = Person.get_or_none(Person.id == person_id)
    who = f"{person.full_name or '(no name)'} (#{person_id})" if person is not None else f"person #{person_id}"
    return set_former_employee(Target(filter=ViewFilter("addresses", person_id=person_id)),
                               cause=f"operator marked {who} as former employee on the person screen")
