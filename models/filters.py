"""What a screen shows, as one value that both pages rows and targets actions.

A ``ViewFilter`` names a view (the recipients of a mailing, the blocked
addresses, the spam complaints) and its filters.  The screen pages rows of
``base_query(f)``; a bulk action on "every row of the current filter" runs on
``address_ids_query(Target(filter=f))`` inside the database, so acting on
80,000 bounced recipients never ships 80,000 ids through Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from peewee import ModelSelect

from peewee import SQL, Node, NodeList, fn

from models.schema import (RECIPIENT_REPORTED, RECIPIENT_REPORTED_SORTS, RECIPIENT_STATUSES, Address, AddressState,
                           Event, Mailing, Recipient, phase_of)

View = Literal["recipients", "blocked", "complaints", "addresses", "events", "mailings"]

#: The model whose rows each view lists (row ids in a Target are of this model).
VIEW_MODELS = {
    "recipients": Recipient,
    "blocked": AddressState,  # row id = the address id
    "complaints": Event,
    "addresses": Address,
    "events": Event,
    "mailings": Mailing,
}


@dataclass(frozen=True, slots=True)
class ViewFilter:
    """A view and its filters; ``None``/empty means "no filter on this column"."""

    view: View
    account_id: int | None = None
    mailing_id: int | None = None
    statuses: tuple[str, ...] = ()  # recipient statuses (recipients view)
    opened: bool | None = None  # recipients view: only opened / never opened
    category: str | None = None
    severity: str | None = None
    blame: str | None = None
    reason: str | None = None
    domain: str | None = None
    search: str | None = None  # case-insensitive substring of address or name
    person_id: int | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())  # (column, value) drilled into from a group
    #: Set by the page planner (``models.queries``), not by screens: the recipient phases of one keyset
    #: range (``models.schema.RECIPIENT_PHASES``); ``statuses`` then narrows it only where it must.
    phases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """The rows a bulk action applies to: explicit row ids of the view, or its whole filter."""

    filter: ViewFilter
    ids: frozenset[int] | None = None  # None = every row matching the filter
    #: the screen's order (a sort column of the view and its direction): an export writes the rows in it;
    #: None = id order.  The other actions are sets and ignore it.
    sort: str | None = None
    desc: bool = False

    @property
    def model(self):  # noqa: ANN201 - a peewee model class
        return VIEW_MODELS[self.filter.view]


def like_pattern(value: str) -> str:
    """A LIKE pattern matching ``value`` literally anywhere (``%``, ``_`` and ``\\`` escaped)."""
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: Node, text: str) -> Node:
    """Case-insensitive "``column`` contains ``text``", the same on SQLite and PostgreSQL.

    ``lower(...) LIKE ... ESCAPE`` rather than peewee's ``**`` (ILIKE) so that
    a search for ``50%`` or ``a_b`` finds exactly that text.
    """
    return NodeList((fn.LOWER(column), SQL("LIKE"), like_pattern(text), SQL("ESCAPE '\\'")))


def fixes_reported_value(f: ViewFilter) -> bool:
    """True when recipients filter ``f`` asks for a severity, category or reason that is not empty.

    Such a filter holds only recipients with something reported
    (``models.schema.RECIPIENT_REPORTED``): none of those with nothing reported.
    """
    fixed = [getattr(f, c) for c in RECIPIENT_REPORTED_SORTS] + [v for c, v in f.extra
                                                                if c in RECIPIENT_REPORTED_SORTS]
    return any(v not in (None, "") for v in fixed)


def base_query(f: ViewFilter, *fields) -> ModelSelect:  # noqa: ANN002
    """The rows of view ``f`` with every filter applied (no order, no limit).

    Column filters map onto the view's own columns so that each one is served
    by the view's composite indexes.
    """
    model = VIEW_MODELS[f.view]
    q = model.select(*fields) if fields else model.select()
    if f.view == "recipients":
        if f.mailing_id is not None:
            q = q.where(Recipient.mailing == f.mailing_id)
        if f.phases:
            q = q.where(Recipient.phase.in_(f.phases))
            whole = {s for s in RECIPIENT_STATUSES if phase_of(s) in f.phases}
            if f.statuses and not whole <= set(f.statuses):  # e.g. "delivered" alone: part of a phase
                q = q.where(Recipient.status.in_(f.statuses))
        elif f.statuses:
            q = q.where(Recipient.status.in_(f.statuses))
        if f.opened is not None:
            q = q.where(Recipient.opened == f.opened)
        if f.account_id is not None and f.mailing_id is None:
            q = q.where(Recipient.mailing.in_(Mailing.select(Mailing.id).where(Mailing.account == f.account_id)))
        cols = {"category": Recipient.category, "severity": Recipient.severity, "blame": Recipient.blame,
                "reason": Recipient.reason, "domain": Recipient.domain}
        if f.search:
            q = q.where(contains(Recipient.email, f.search) | contains(Recipient.name, f.search)
                        | contains(Recipient.company, f.search))
        if f.person_id is not None:
            q = q.where(Recipient.person == f.person_id)
        if fixes_reported_value(f):
            # implied by the value, but SQLite uses a partial index only for a condition it sees written:
            # this lets it seek the reported value in its index (``models.schema.RECIPIENT_REPORTED``)
            q = q.where(SQL(RECIPIENT_REPORTED))
    elif f.view == "blocked":
        q = q.where(AddressState.status == "blocked")
        if f.account_id is not None:
            q = q.where(AddressState.account == f.account_id)
        cols = {"category": AddressState.blocked_category, "reason": AddressState.blocked_reason,
                "domain": AddressState.domain}
        if f.severity is not None:  # the severity of the address's latest event, not a state column
            q = q.where(AddressState.id.in_(Address.select(Address.id).where(Address.last_severity == f.severity)))
        if f.search:
            q = q.where(contains(AddressState.email, f.search))
        if f.person_id is not None:
            q = q.where(AddressState.id.in_(Address.select(Address.id).where(Address.person == f.person_id)))
    elif f.view == "addresses":
        if f.account_id is not None:
            q = q.where(Address.account == f.account_id)
        cols = {"domain": Address.domain, "severity": Address.last_severity}
        if f.search:
            q = q.where(contains(Address.email, f.search))
        if f.person_id is not None:
            q = q.where(Address.person == f.person_id)
    elif f.view == "mailings":
        if f.account_id is not None:
            q = q.where(Mailing.account == f.account_id)
        cols = {}
        if f.search:
            q = q.where(contains(Mailing.name, f.search) | contains(Mailing.subject, f.search))
    elif f.view == "events":
        if f.account_id is not None:
            q = q.where(Event.account == f.account_id)
        if f.mailing_id is not None:
            q = q.where(Event.mailing == f.mailing_id)
        cols = {"category": Event.category, "severity": Event.severity, "blame": Event.blame,
                "reason": Event.reason}
        if f.search:
            q = q.where(contains(Event.email, f.search) | contains(Event.diagnostic, f.search))
        if f.person_id is not None:
            q = q.where(Event.person == f.person_id)
    else:  # complaints
        q = q.where(Event.kind == "complaint")
        if f.account_id is not None:
            q = q.where(Event.account == f.account_id)
        if f.mailing_id is not None:
            q = q.where(Event.mailing == f.mailing_id)
        cols = {"feedback_type": Event.feedback_type, "domain": Event.email}
        if f.search:
            q = q.where(contains(Event.email, f.search))
        if f.person_id is not None:
            q = q.where(Event.person == f.person_id)
    for name in ("category", "severity", "blame", "reason", "domain"):
        value = getattr(f, name)
        if value is not None and name in cols:
            if f.view == "complaints" and name == "domain":
                q = q.where(contains(Event.email, "@" + value))
            else:
                q = q.where(cols[name] == value)
    for column, value in f.extra:
        q = q.where(getattr(model, column) == value)
    return q


def address_ids_query(target: Target) -> ModelSelect:
    """A subquery yielding the address ids the target's rows refer to."""
    f = target.filter
    model = target.model
    col = model.id if model in (Address, AddressState) else model.address
    q = base_query(f, col)
    if target.ids is not None:
        q = q.where(model.id.in_(sorted(target.ids)))
    if model not in (Address, AddressState):
        q = q.where(col.is_null(False))
    return q


def person_ids_query(target: Target) -> ModelSelect:
    """A subquery yielding the person ids behind the target's addresses."""
    return (Address.select(Address.person)
            .where(Address.id.in_(address_ids_query(target)) & Address.person.is_null(False)))


