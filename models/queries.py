"""Paged queries for the screens: keyset pages, grouped counts, filter counts.

Why keyset pagination: a screen over a million recipients must never load
the result or skip rows with ``OFFSET`` (26 ms to the middle of 1M rows in
SQLite, versus 0.1 ms for a keyset seek).  A page is "the next ``limit`` rows
after the row whose (sort value, id) is the cursor", which an index
``(..., sort column, id)`` answers by one seek and a short scan.

Two details make this exact for every sort column and both backends:

* NULL sorts as the smallest value on both backends (SQLite's own rule;
  PostgreSQL's is the opposite).  A nullable column is read in two segments,
  the NULL rows (ordered by id) and the others (ordered by value, id), each
  a plain index range, so no ``NULLS FIRST`` that PostgreSQL's indexes could
  not serve is ever needed.
* Severity, category and reason are empty for a recipient with nothing
  reported; their partial indexes hold only the reported recipients, and
  those with nothing reported are one index of their own
  (``models.schema.RECIPIENT_REPORTED_SORTS``).  Sorted by one of them, the
  recipients with nothing reported are read like NULLs: a segment of their
  own, first, in id order; the cursor of such a row has the value None.
* The recipient indexes are ``(mailing, phase, column, id)`` (the phase is
  the status with sent and delivered as one: ``models.schema.RECIPIENT_PHASES``),
  and ``(mailing, status, id)`` for sorting by status.  A filter of
  several phases (Sent, All) becomes one keyset query per phase, each an
  index range, merged by the database (``UNION ALL`` ordered on the outside),
  so the page costs O(statuses x page) whatever the mailing's size, and the
  strings are compared with the database's own collation.  The ranges yield
  only (id, sort value) from their covering indexes; the page's rows are read
  last, by primary key, for the ids the merge kept (``_merged_page``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any, Final

from peewee import (JOIN, SQL, Case, CharField, Expression, ModelSelect, Node, NodeList, Select, TextField, Tuple,
                    Value, fn)

from models import search
from models.db import database, is_sqlite as _is_sqlite
from models.filters import VIEW_MODELS, ViewFilter, base_query, fixes_reported_value, like_pattern
from models.schema import (
    RECIPIENT_CLEAN,
    RECIPIENT_REPORTED,
    RECIPIENT_REPORTED_SORTS,
    RECIPIENT_STATUSES,
    Account,
    Address,
    AddressState,
    AuditLog,
    Consent,
    Event,
    Mailing,
    Person,
    Recipient,
    phase_of,
)
from models.stats import mailing_counts

#: The filter hotkeys of the recipients screen, in filter-bar order: name -> (label, statuses).
#: "Sent" is every recipient the mailing reached without a problem reported
#: back (sent, delivered, opened); "All" is every recipient.
RECIPIENT_FILTERS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "sent": ("Sent", ("sent", "delivered", "opened")),
    "bounced": ("Bounced", ("bounced",)),
    "opened": ("Opened", ("opened",)),
    "all": ("All", RECIPIENT_STATUSES),
    "pending": ("Pending", ("pending",)),
    "complained": ("Complained", ("complained",)),
}
#: What each recipient filter shows, in words (the palette and the help screen say it).
RECIPIENT_FILTER_HELP: Final[dict[str, str]] = {
    "sent": "Show the recipients sent to without a bounce, delay or complaint",
    "bounced": "Show the bounced recipients",
    "opened": "Show the recipients who opened",
    "all": "Show every recipient of the mailing",
    "pending": "Show the delayed recipients (still retried)",
    "complained": "Show the recipients who complained",
}

#: The default page size of the screens.
PAGE_SIZE: Final = 100

#: A text search whose trigram index proposes at most this many rows is paged
#: over those rows (read by id and sorted: a bounded sort of at most this many);
#: a term proposing more is common, and walking the keyset index with the
#: substring condition finds a page of it after a short read.
SEARCH_CANDIDATES_MAX: Final = 5_000

#: Recipients: a page reads at most this many candidates of the trigram index
#: (and sorts at most that many rows) when that is cheaper than the walk
#: (``_via_search_index``).
PAGE_CANDIDATES_MAX: Final = 30_000

#: Recipients: a count under a search reads at most this many candidates
#: when they are fewer than the filter's rows (``_count_via_index``).
COUNT_CANDIDATES_MAX: Final = 100_000


@dataclass(frozen=True, slots=True)
class Column:
    """One shown column of a view.

    ``group`` names the model column grouped (and drilled into) when the
    operator groups by this column: the address column groups by domain;
    ``None`` means grouping by it makes no sense (unique values).

    ``sortable=False`` marks a column read through a join (a person's or an
    account's name): no index of the view's own table orders rows by it, so
    a page sorted by it would sort every row of the filter (1.4 s for the
    blocked addresses sorted by person at 1M).  ``fetch_page`` still pages
    it correctly, but the screens do not offer it as a sort.
    """

    key: str
    label: str
    width: int
    nullable: bool = False
    group: str | None = None
    numeric: bool = False
    sortable: bool = True
    #: empty until something is reported (recipients' severity, category, reason): sorted by it, the rows
    #: with nothing reported come first, in id order, then the others by (value, id) (see the module doc)
    reported: bool = False


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """What a view shows and how it is read: its columns, their expressions and joins."""

    view: str
    columns: tuple[Column, ...]
    exprs: Callable[[], dict[str, Node]]
    default_sort: str
    default_desc: bool = False
    person: Callable[[], Node] | None = None  # the person id shown rows link to
    joins: Callable[[ModelSelect], ModelSelect] | None = None

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(f"view {self.view!r} has no column {key!r}")


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a page: its primary key, the person it links to, and the column values."""

    id: int
    person_id: int | None
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: the (sort value, id) of the row before it."""

    value: Any
    id: int


def _complaint_joins(q: ModelSelect) -> ModelSelect:
    return (q.join_from(Event, Person, JOIN.LEFT_OUTER, on=(Event.person == Person.id))
             .join_from(Person, Consent, JOIN.LEFT_OUTER, on=(Consent.person == Person.id))
             .join_from(Event, Mailing, JOIN.LEFT_OUTER, on=(Event.mailing == Mailing.id)))


def _blocked_joins(q: ModelSelect) -> ModelSelect:
    return q.join_from(AddressState, Account, JOIN.LEFT_OUTER, on=(AddressState.account == Account.id))


def _blocked_person_id() -> Node:
    """The person of a blocked row, which hangs off its address (same id): a lookup per shown row.

    A scalar subquery rather than a join: PostgreSQL may merge-join two
    id-ordered inputs and read the address table from its start.
    """
    return NodeList((Address.select(Address.person).where(Address.id == AddressState.id),))


def _blocked_person_name() -> Node:
    """The person's name of a blocked row (see ``_blocked_person_id``; a NodeList so it sorts like a column)."""
    return NodeList((Person.select(Person.full_name).join(Address, on=(Address.person == Person.id))
                     .where(Address.id == AddressState.id),))


def _or_default(column: Node, default: Any) -> Node:
    """A state column of an address, ``default`` when it has no state row.

    A CASE rather than ``COALESCE``: a peewee function answers any attribute
    (``db_value``, ``python_value``) with another function, which the page
    code would take for a value converter.
    """
    return Case(None, ((column.is_null(), default),), column)


def _address_state_join(q: ModelSelect) -> ModelSelect:
    return q.join_from(Address, AddressState, JOIN.LEFT_OUTER, on=(AddressState.id == Address.id))


VIEWS: Final[dict[str, ViewSpec]] = {
    "recipients": ViewSpec(
        "recipients",
        (
            Column("name", "Name", 16),
            Column("company", "Company", 12, group="company"),
            Column("email", "Address", 24, group="domain"),
            Column("status", "Status", 10, group="status"),
            Column("severity", "Severity", 8, group="severity", reported=True),
            Column("category", "Category", 12, group="category", reported=True),
            Column("reason", "Reason", 12, group="reason", reported=True),
            Column("last_event_at", "Last event", 16, nullable=True),
        ),
        lambda: {"name": Recipient.name, "company": Recipient.company, "email": Recipient.email,
                 "status": Recipient.status, "severity": Recipient.severity, "category": Recipient.category,
                 "reason": Recipient.reason, "last_event_at": Recipient.last_event_at},
        "name",
        person=lambda: Recipient.person,
    ),
    "blocked": ViewSpec(
        "blocked",
        (
            Column("email", "Address", 24, group="domain"),
            Column("person", "Person", 14, nullable=True, sortable=False),
            # a blocked state always has a reason and a time (a CHECK of address_state): no NULL segment
            Column("blocked_reason", "Reason", 12, group="blocked_reason"),
            Column("bounce_count", "Bounces", 7, group="bounce_count", numeric=True),
            Column("blocked_at", "Blocked since", 16),
            Column("global_block", "Global", 6, group="global_block"),
            Column("account", "Account", 10, group="account", sortable=False),
        ),
        lambda: {"email": AddressState.email, "person": _blocked_person_name(),
                 "blocked_reason": AddressState.blocked_reason, "bounce_count": AddressState.bounce_count,
                 "blocked_at": AddressState.blocked_at, "global_block": AddressState.global_block,
                 "account": Account.name},
        "blocked_at",
        default_desc=True,
        person=_blocked_person_id,
        joins=_blocked_joins,
    ),
    "complaints": ViewSpec(
        "complaints",
        (
            Column("person", "Person", 14, nullable=True, sortable=False),
            Column("email", "Address", 22),
            Column("mailing", "Mailing", 14, nullable=True, group="mailing", sortable=False),
            Column("feedback_type", "Feedback", 9, nullable=True, group="feedback_type"),
            Column("occurred_at", "Time", 16),
            Column("consent", "Consent", 8, nullable=True, sortable=False),
        ),
        lambda: {"person": Person.full_name, "email": Event.email, "mailing": Mailing.name,
                 "feedback_type": Event.feedback_type, "occurred_at": Event.occurred_at,
                 "consent": Consent.state},
        "occurred_at",
        default_desc=True,
        person=lambda: Event.person,
        joins=_complaint_joins,
    ),
    "addresses": ViewSpec(
        "addresses",
        (
            Column("email", "Address", 28),
            Column("status", "Status", 8),
            Column("bounce_count", "Bounces", 7, numeric=True),
            Column("last_category", "Category", 12, nullable=True),
            Column("last_status", "SMTP", 6, nullable=True),
            Column("last_event_at", "Last event", 16, nullable=True),
        ),
        lambda: {"email": Address.email, "status": _or_default(AddressState.status, "active"),
                 "bounce_count": _or_default(AddressState.bounce_count, 0),
                 "last_category": Address.last_category, "last_status": Address.last_status,
                 "last_event_at": Address.last_event_at},
        "email",
        person=lambda: Address.person,
        joins=_address_state_join,
    ),
    "events": ViewSpec(
        "events",
        (
            Column("occurred_at", "Time", 16),
            Column("kind", "Kind", 9, group="kind"),
            Column("email", "Address", 22),
            Column("category", "Category", 12, group="category"),
            Column("reason", "Reason", 12, group="reason"),
            Column("diagnostic", "Diagnostic", 40),
        ),
        lambda: {"occurred_at": Event.occurred_at, "kind": Event.kind, "email": Event.email,
                 "category": Event.category, "reason": Event.reason, "diagnostic": Event.diagnostic},
        "occurred_at",
        default_desc=True,
        person=lambda: Event.person,
    ),
    "mailings": ViewSpec(
        "mailings",
        (
            Column("name", "Mailing", 22),
            Column("sent_at", "Sent at", 10, nullable=True),
        ),
        lambda: {"name": Mailing.name, "sent_at": Mailing.sent_at},
        "sent_at",
        default_desc=True,
    ),
}


def view_spec(view: str) -> ViewSpec:
    """The columns and sort of ``view``."""
    return VIEWS[view]


def _id_field(f: ViewFilter) -> Node:
    return VIEW_MODELS[f.view].id


def _search_table(f: ViewFilter) -> str | None:
    """The table whose trigram index serves the search of view ``f`` (None: the view has none)."""
    return {"recipients": "recipient", "blocked": "address", "addresses": "address"}.get(f.view)


def _candidate_count(f: ViewFilter, cap: int, within: tuple[int, int] | None | bool = True) -> int | None:
    """How many rows the trigram index proposes for ``f``'s search, counted up to ``cap + 1``.

    None when the search cannot use an index (no index, or a term shorter
    than a trigram).  Remembered per term and cap: a count of 25,000
    candidates costs the index ~20 ms, more than the page it decides on, and a
    count gone stale only picks the slower of two routes that return the
    same rows.  ``within``: the mailing's id range when the caller has it
    (``True``: look it up).
    """
    table = _search_table(f)
    if table is None or not search.indexable(f.search) or not search.has_index(database.obj, table):
        return None
    assert f.search is not None
    if within is True:
        within = _id_range(f)
    assert within is None or isinstance(within, tuple)
    key = (type(database.obj), database.obj.database, table, f.search, cap, within)
    found = _CANDIDATE_COUNTS.get(key)
    if found is None:
        found = search.candidate_count(database.obj, table, f.search, cap, within)
        if len(_CANDIDATE_COUNTS) >= _PLANS_MAX:
            _CANDIDATE_COUNTS.clear()
        _CANDIDATE_COUNTS[key] = found
    return found


_CANDIDATE_COUNTS: dict[tuple, int] = {}


def _id_range_nodes(f: ViewFilter) -> tuple[Node, Node] | None:
    """The lowest and highest id ``f``'s rows can have, as subqueries (None: no narrower than the table).

    One mailing's recipients: they are inserted together, so their ids are
    a short stretch of the table's, and the trigram index reads only that
    stretch (``search.candidates``).  Subqueries rather than values, so a
    page's generated SQL stays right as recipients are added; each is one
    seek of the ``(mailing, ...)`` index.  SQLite only (see ``search.candidates``).
    """
    if f.view != "recipients" or f.mailing_id is None or not _is_sqlite():
        return None
    ids = Recipient.select(Recipient.id).where(Recipient.mailing == f.mailing_id)
    return (ids.select(fn.MIN(Recipient.id)), ids.select(fn.MAX(Recipient.id)))


def _id_range(f: ViewFilter) -> tuple[int, int] | None:
    """``_id_range_nodes`` as values (for a candidate count).

    Two queries: SQLite answers a lone ``MIN`` or ``MAX`` with one index seek
    but ``SELECT MIN(id), MAX(id)`` by reading the whole mailing.
    """
    nodes = _id_range_nodes(f)
    if nodes is None:
        return None
    lo, hi = (q.scalar() for q in nodes)
    return (lo, hi) if lo is not None else (0, -1)


def _fewer_than_filter(f: ViewFilter, n: int) -> bool:
    """True when ``f`` without its search holds more than ``n`` rows (an index-only count of at most n + 1)."""
    return count(replace(f, search=None), cap=n) > n


def _via_search_index(f: ViewFilter) -> bool:
    """True when a page of ``f``'s search is read through the trigram index's candidates.

    The hybrid plan: a term the index proposes at most ``SEARCH_CANDIDATES_MAX``
    rows for is read through it; a term shorter than three characters, or a
    database without the index walks the keyset indexes with the substring
    condition.  The same on PostgreSQL with its ``pg_trgm`` indexes: left to
    itself, its planner walked the keyset index for a term matching nothing
    (83 ms at 300k rows, 1.8 ms through the index).

    Recipients, for a term between the two: reading the candidates costs one
    row read per candidate (C); the walk reads about statuses x page x
    table rows / C rows before each status has a page of matches (a term in
    C of the table's rows matches one row in table rows / C), and never more
    than the filter holds.  For one mailing, C and "table rows" are both
    counted within the mailing's stretch of ids (``_id_range``).  The candidates are read when they are the fewer
    reads: C x C < statuses x page x table rows (at most
    ``PAGE_CANDIDATES_MAX``, which bounds the sort) and C < the filter's rows.
    At 1M rows and six statuses the break-even is ~25,000 candidates; a
    single status, ~10,000.
    """
    if f.view != "recipients":
        found = _candidate_count(f, SEARCH_CANDIDATES_MAX)
        return found is not None and found <= SEARCH_CANDIDATES_MAX
    within = _id_range(f)  # the candidates are counted within the mailing's ids: so is the walk's density
    table_rows = within[1] - within[0] + 1 if within else Recipient.select(fn.MAX(Recipient.id)).scalar() or 0
    statuses = len(f.statuses) or len(RECIPIENT_STATUSES)
    limit = max(SEARCH_CANDIDATES_MAX, min(PAGE_CANDIDATES_MAX, math.isqrt(statuses * PAGE_SIZE * table_rows)))
    found = _candidate_count(f, limit, within)
    if found is None or found > limit:
        return False
    return found <= SEARCH_CANDIDATES_MAX or _fewer_than_filter(f, found)


def _count_via_index(f: ViewFilter, cap: int | None) -> bool:
    """True when a count of ``f``'s search reads the trigram index's candidates rather than the filter.

    A count reads every row of the filter unless ``cap`` matches are found
    first; through the index it reads each candidate once.  So for a term
    with at most ``cap`` (and ``COUNT_CANDIDATES_MAX``) candidates, the
    candidates are read when they are fewer than the filter's rows: a capped
    count of "anna" in a mailing of 1M took 1.9 s along the filter, ~0.1 s
    through its 30,000 candidates.  A term with more candidates than the cap
    is counted along the filter, which stops at the cap.
    """
    if f.view != "recipients":
        return _via_search_index(f)
    limit = min(cap, COUNT_CANDIDATES_MAX) if cap is not None else COUNT_CANDIDATES_MAX
    limit = max(limit, SEARCH_CANDIDATES_MAX)
    found = _candidate_count(f, limit)
    if found is None or found > limit:
        return False
    return found <= SEARCH_CANDIDATES_MAX or _fewer_than_filter(f, found)


def _with_candidates(q: ModelSelect, f: ViewFilter) -> ModelSelect:
    """``q`` limited to the rows the trigram index proposes for ``f``'s search (the substring stays checked)."""
    table = _search_table(f)
    assert table is not None and f.search is not None
    return q.where(search.candidates(database.obj, _id_field(f), table, f.search, _id_range_nodes(f)))


def _not_indexed(sql: str, f: ViewFilter) -> str:
    """``sql`` with the view's table read by id only (``NOT INDEXED`` still allows rowid lookups).

    Otherwise SQLite may walk a keyset index of a million rows and probe the
    candidates for each, when reading the few candidates by id and sorting
    them (at most ``SEARCH_CANDIDATES_MAX``, recipients ``PAGE_CANDIDATES_MAX``) is the bounded plan.
    """
    if not _is_sqlite():
        return sql  # PostgreSQL reads the ANY(ARRAY(...)) ids by primary key on its own
    table = VIEW_MODELS[f.view]._meta.table_name  # the blocked view's address_state: its ids are the address's
    needle = f'FROM "{table}" AS "t1"'
    assert needle in sql, sql
    return sql.replace(needle, needle + " NOT INDEXED", 1)  # the outer query's; subqueries seek their indexes


def _partitions(f: ViewFilter, sort: str) -> list[ViewFilter]:
    """The filter split so that each part is one range of a composite index.

    Recipients with statuses: sorted by status, one part per status (the
    ``(mailing, status, id)`` index); sorted by any other column, one part
    per phase (the ``(mailing, phase, column, id)`` indexes: Sent is two
    parts, sent+delivered and opened).  Every other view: the filter itself.
    """
    if f.view != "recipients" or not f.statuses:
        return [f]
    if sort == "status":
        return [replace(f, statuses=(s,)) for s in f.statuses] if len(f.statuses) > 1 else [f]
    phases = dict.fromkeys(phase_of(s) for s in f.statuses)
    return [replace(f, statuses=tuple(s for s in f.statuses if phase_of(s) == p), phases=(p,)) for p in phases]


def _db_value(expr: Node, value: Any) -> Any:
    """The cursor value as the database stores it (peewee converts dates only through fields)."""
    converter = getattr(expr, "db_value", None)
    return Value(value, converter=converter) if converter is not None else value


#: Stands for the search term while a page's SQL is generated (a text no operator types).
_TERM: Final = "\x00search term\x00"


class _Slot(Node):
    """A query parameter filled in at execution time: the cursor's value or id, the row limit, the mailing.

    Peewee spends ~5 ms building the SQL text of a multi-status page (three
    sub-queries of ten columns), five times what SQLite needs to run it.  A
    page's SQL depends only on the filter, the sort and the cursor's *shape*,
    so it is generated once with slots where the cursor, the limit and the
    mailing go and the text is reused for every further page and every
    mailing (see ``_page_plan``); SQLite's prepared statement is reused too.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __sql__(self, ctx):  # noqa: ANN001, ANN204 - peewee's protocol
        return ctx.value(_Marker(self.name), converter=False)


@dataclass(frozen=True, slots=True)
class _Marker:
    """Where a slot's value goes in a generated statement's parameter list."""

    name: str


@dataclass(frozen=True, slots=True)
class _Empty:
    """How the "empty" rows of a sort column are a segment of their own: its NULLs, or the recipients
    with nothing reported (``Column.reported``)."""

    rows: Node | None  # the condition of the empty segment; None: the filter excludes every such row
    others: Node  # the condition of the rest
    #: the two segments are two partial indexes: the empty one is read in id order, and ``others`` (the
    #: condition of the values' index) is part of every value range; else one index, NULLs included
    partial: bool


def _empty_of(f: ViewFilter, col: Column, expr: Node) -> _Empty | None:
    """The empty segment of ``col`` under filter ``f`` (None: the column has none)."""
    if col.reported:
        # a filter on a reported value excludes every recipient with nothing reported
        rows = None if fixes_reported_value(f) else SQL(RECIPIENT_CLEAN)
        return _Empty(rows, SQL(RECIPIENT_REPORTED), True)
    if col.nullable:
        return _Empty(expr.is_null(), expr.is_null(False), False)
    return None


def _segments(expr: Node, idf: Node, empty: _Empty | None, descending: bool,
              after: str | None) -> list[tuple[bool, Expression | None, list[Node]]]:
    """The (ordered by id alone, condition, order) of each index range a page reads, in reading order.

    ``after`` is the cursor's shape: None (from the top), ``"null"`` (a row
    of the empty segment: its sort value is NULL, or nothing is reported) or
    ``"value"``; its value and id are slots.  The empty segment comes first:
    ascending reads it first, descending reads it last.  A segment entirely
    before the cursor is left out.

    After a cursor ``(v, id)`` the rest of ``v``'s rows (``= v AND id > cursor``)
    and the rows past ``v`` (``> v``) are two ranges: SQLite seeks a row-value
    comparison ``(col, id) > (v, id)`` on the column alone and then scans every
    row equal to ``v`` (a quarter of a million rows for a low-cardinality column
    like severity), where two plain ranges cost one seek each.
    """
    def ordered(nodes: list[Node]) -> list[Node]:
        return [n.desc() if descending else n.asc() for n in nodes]

    cur_id = _Slot("id")
    id_after = (idf < cur_id) if descending else (idf > cur_id)
    null_seg: tuple[bool, Expression | None, list[Node]] | None = None
    # the NULL segment is in id order, but ordered by (column, id): PostgreSQL does not take
    # ``IS NULL`` as a constant for ordering, so ``ORDER BY id`` made it walk the (mailing, status,
    # id) index filtering for NULL (every row of a status without NULLs: 180-300 ms at 300k)
    if empty is not None and empty.rows is not None:
        null_order = ordered([idf] if empty.partial else [expr, idf])
        if after is None or (after != "null" and descending):
            null_seg = (empty.partial, empty.rows, null_order)
        elif after == "null":
            null_seg = (empty.partial, empty.rows & id_after, null_order)
    keep = empty.others if empty is not None and empty.partial else None

    def kept(cond: Expression) -> Expression:
        return cond & keep if keep is not None else cond

    value_segs: list[tuple[bool, Expression | None, list[Node]]] = []
    if after is None or (after == "null" and not descending):
        value_segs.append((False, empty.others if empty is not None else None, ordered([expr, idf])))
    elif after == "value":
        value_segs.append((True, kept((expr == _Slot("value")) & id_after), ordered([idf])))
        past = (expr < _Slot("value")) if descending else (expr > _Slot("value"))
        value_segs.append((False, kept(past), ordered([expr, idf])))
    nulls = [null_seg] if null_seg is not None else []
    return nulls + value_segs if not descending else value_segs + nulls


def _row_fields(f: ViewFilter, spec: ViewSpec) -> list[Node]:
    """The result columns of a page row: id, the person it links to, then the view's columns (c0, c1, ...)."""
    exprs = spec.exprs()
    fields: list[Node] = [_id_field(f).alias("id")]
    fields.append((spec.person() if spec.person else Value(None)).alias("pid"))
    return fields + [exprs[c.key].alias(f"c{i}") for i, c in enumerate(spec.columns)]


def _select(f: ViewFilter, spec: ViewSpec) -> ModelSelect:
    q = base_query(f, *_row_fields(f, spec))
    return spec.joins(q) if spec.joins else q


def _converters(spec: ViewSpec) -> list[Callable[[Any], Any] | None]:
    """Per result column (id, pid, then the view's columns), how a raw value becomes a Python one.

    Text columns arrive as ``str`` from both drivers: they get none (peewee's
    text coercion was 40% of a 100-row page's Python time).
    """
    exprs = spec.exprs()
    return [None, None] + [None if isinstance(exprs[c.key], CharField | TextField)
                           else getattr(exprs[c.key], "python_value", None) for c in spec.columns]


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statements of one page shape: per index segment, (SQL, parameters with slot markers)."""

    statements: tuple[tuple[str, tuple[Any, ...]], ...]
    value_converter: Callable[[Any], Any] | None
    converters: tuple[Callable[[Any], Any] | None, ...]


_PLANS: dict[tuple, _Plan] = {}
_PLANS_MAX = 512


def _partition_value(f: ViewFilter, sort: str) -> bool:
    """True when the partitions of ``f`` each hold one value of the sort column (recipients by status)."""
    return f.view == "recipients" and sort == "status" and len(f.statuses) >= 1


def _merged_page(ranges: list[tuple[ViewFilter, Expression | None]], spec: ViewSpec, expr: Node, sort_alias: str,
                 order: list[Node], by_id: bool, descending: bool) -> Select:
    """One page merged from several index ranges (the statuses of a recipients filter), rows read last.

    Each range yields only ``(id, sort value)``, which its covering index
    ``(mailing, phase, column, id)`` holds: no table row is read there.  The
    database merges them and keeps one page of ids; only those rows are then
    read, by primary key, and put back in page order.  Reading whole rows in
    every range first cost up to six pages of random row reads for one page
    (All sorted by address: 14-17 ms at 1M; this way 0.8 ms).  The final
    ``ORDER BY`` sorts at most one page (the ids kept by the merge's
    ``LIMIT``), never the filter.
    """
    assert spec.joins is None, "a merged page reads its rows from the view's own table only"
    union: Select | None = None
    for i, (part, cond) in enumerate(ranges):
        sub = base_query(part, _id_field(part).alias("id"), expr.alias(sort_alias))
        sub = (sub.where(cond) if cond is not None else sub).order_by(*order).limit(_Slot("want"))
        wrapped = Select([sub.alias(f"p{i}")], [SQL("*")])
        union = wrapped if union is None else union + wrapped
    assert union is not None
    keys = ["id"] if by_id else [sort_alias, "id"]
    page = Select([union.alias("u")], [SQL("*")]).order_by(
        *[SQL(f'"{k}" DESC' if descending else f'"{k}"') for k in keys]).limit(_Slot("want")).alias("page")
    model = VIEW_MODELS[ranges[0][0].view]
    fields = _row_fields(ranges[0][0], spec)
    outer = [page.c.id] if by_id else [getattr(page.c, sort_alias), page.c.id]
    order_by = [c.desc() if descending else c.asc() for c in outer]
    if _is_sqlite():  # SQLite reads the page's ids first and each row by rowid (its plan for this join)
        return Select([page], fields).join(model, JOIN.INNER, on=(model.id == page.c.id)).order_by(*order_by)
    # PostgreSQL: one primary-key lookup per kept id, whatever the planner's estimates (a LIMITed
    # LATERAL subquery is not flattened into a hash or merge join over the whole table)
    row = model.select(*fields).where(model.id == page.c.id).limit(1).alias("r")
    return (Select([page], [SQL(f'"r"."{n}"') for n in ["id", "pid"] + [f"c{i}" for i in range(len(spec.columns))]])
            .join(row, JOIN.LATERAL, on=SQL("TRUE")).order_by(*order_by))


def _page_plan(f: ViewFilter, spec: ViewSpec, sort: str, descending: bool, after: str | None,
               after_value: Any = None, via_index: bool = False) -> _Plan:
    """The SQL of every segment of a page (generated once per filter, sort and cursor shape).

    The mailing and the search term are slots too, so opening another
    mailing or typing another letter of a search reuses the plan: peewee
    builds a search page's SQL in 2-3 ms, and every keystroke is a new term.

    Sorted by the partition column itself (recipients by status), each
    partition holds a single value, so whether it belongs to the cursor's
    "equal" or "past" range is known before querying: a partition is read
    whole or not at all (``after_value`` is then part of the plan's key).
    SQLite would otherwise seek ``status = ? AND status > ?`` on the second
    term alone and sort every later status of the mailing.

    ``via_index``: a selective text search reads the candidate rows of the
    trigram index by id, in one query whatever the statuses and the segments, and sorts them
    (a sort of at most ``SEARCH_CANDIDATES_MAX`` rows, recipients
    ``PAGE_CANDIDATES_MAX``; besides the final sort of a merged page's rows,
    the only page sort that is not a merge of sub-pages).
    """
    # one plan (and one prepared statement) serves every mailing and every search term: they are slots
    shape = replace(f, mailing_id=None if f.mailing_id is None else 0, search=_TERM if f.search else None)
    key = (type(database.obj), shape, sort, descending, after, after_value, via_index)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    f = replace(shape, mailing_id=None if f.mailing_id is None else _Slot("mailing"))  # type: ignore[arg-type]
    term_params = {like_pattern(_TERM): _Marker("like"), search.phrase(_TERM): _Marker("phrase")}
    col = spec.column(sort)
    idx = [c.key for c in spec.columns].index(sort)
    expr = spec.exprs()[sort]
    empty = _empty_of(f, col, expr)
    segments = _segments(expr, _id_field(f), empty, descending, after)
    parts = _partitions(f, sort)
    decided = after == "value" and _partition_value(f, sort) and not via_index
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if via_index:
        # The candidates are read by id and sorted whatever the order: one statement for every segment
        # (one per segment read and sorted all of them again).  The segments follow each other in the
        # order (empty segment first, then value, then id): in the empty segment the value is one (NULL,
        # or empty), so that order is the segments' own.
        conds = [cond for _, cond, _ in segments]
        if conds:  # none: the cursor is past the last segment
            where = None if any(c is None for c in conds) else reduce(operator.or_, conds)
            rank = [] if empty is None or empty.rows is None else [Case(None, [(empty.rows, 0)], 1)]
            q = _with_candidates(_select(f, spec), f)
            order = [n.desc() if descending else n.asc() for n in (*rank, expr, _id_field(f))]
            query = (q.where(where) if where is not None else q).order_by(*order).limit(_Slot("want"))
            sql, params = database.get_sql_context().sql(query).query()
            params = [term_params.get(p, p) if isinstance(p, str) else p for p in params]
            statements.append((_not_indexed(sql, f), tuple(params)))
        segments = []
    for n, (by_id, cond, order) in enumerate(segments):
        ranges: list[tuple[ViewFilter, Expression | None]] = []
        for part in parts:
            if decided:  # segment 0: the cursor's value (by id), segment 1: the values past it
                value = part.statuses[0]
                if n == 0 and value != after_value:
                    continue
                if n == 1:
                    if not (value < after_value if descending else value > after_value):
                        continue
                    cond = None
            ranges.append((part, cond))
        if not ranges:
            continue
        if len(ranges) == 1:
            part, cond = ranges[0]
            q = _select(part, spec)
            query: Select = (q.where(cond) if cond is not None else q).order_by(*order).limit(_Slot("want"))
        else:
            # the cursor's value segment is ordered by id alone, every other one by (value, id)
            query = _merged_page(ranges, spec, expr, f"c{idx}", order, by_id, descending)
        sql, params = database.get_sql_context().sql(query).query()
        params = [term_params.get(p, p) if isinstance(p, str) else p for p in params]
        statements.append((sql, tuple(params)))
    plan = _Plan(tuple(statements), getattr(expr, "db_value", None), tuple(_converters(spec)))
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def fetch_page(f: ViewFilter, sort: str | None = None, desc: bool | None = None, *,
               after: Cursor | None = None, limit: int = PAGE_SIZE, before: bool = False) -> list[Row]:
    """One page of view ``f`` sorted by column ``sort``: the ``limit`` rows after ``after``.

    With ``before=True`` the rows just *before* ``after`` (for scrolling up),
    still returned in display order.  ``after=None`` starts at the top (or,
    with ``before``, at the bottom).
    """
    spec = VIEWS[f.view]
    sort = sort or spec.default_sort
    desc = spec.default_desc if desc is None else desc
    descending = desc != before
    shape = None if after is None else ("null" if after.value is None else "value")
    via_index = bool(f.search) and _via_search_index(f)
    decided = shape == "value" and _partition_value(f, sort) and not via_index
    plan = _page_plan(f, spec, sort, descending, shape, after.value if decided else None, via_index)
    value = None
    if after is not None and after.value is not None:
        value = plan.value_converter(after.value) if plan.value_converter else after.value
    rows: list[tuple] = []
    term = {"like": like_pattern(f.search), "phrase": search.phrase(f.search) if via_index else None} \
        if f.search else {}
    for sql, params in plan.statements:
        if len(rows) >= limit:
            break
        slots = {"want": limit - len(rows), "value": value, "id": after.id if after else None,
                 "mailing": f.mailing_id, **term}
        bound = [slots[p.name] if isinstance(p, _Marker) else p for p in params]
        rows.extend(database.execute_sql(sql, bound).fetchall())
    rows = rows[:limit]
    if before:
        rows.reverse()
    convert = [(i, c) for i, c in enumerate(plan.converters[2:]) if c is not None]
    out: list[Row] = []
    for r in rows:
        values = list(r[2:])
        for i, c in convert:
            if values[i] is not None:
                values[i] = c(values[i])
        out.append(Row(r[0], r[1], tuple(values)))
    return out


def cursor_of(row: Row, f: ViewFilter, sort: str | None = None) -> Cursor:
    """The cursor that continues after (or before) ``row`` under sort column ``sort``."""
    spec = VIEWS[f.view]
    keys = [c.key for c in spec.columns]
    col = spec.column(sort or spec.default_sort)
    if col.reported and all(row.values[keys.index(c)] == "" for c in RECIPIENT_REPORTED_SORTS):
        return Cursor(None, row.id)  # nothing reported: a row of the empty segment (``_segments``)
    return Cursor(row.values[keys.index(col.key)], row.id)


def fetch_rows(f: ViewFilter, ids: Sequence[int]) -> list[Row]:
    """The current values of the given rows of ``f`` (for refreshing a visible page in place).

    Rows no longer matching the filter are absent from the result.
    """
    if not ids:
        return []
    spec = VIEWS[f.view]
    q = _select(f, spec).where(_id_field(f).in_(list(ids)))
    return [Row(r[0], r[1], tuple(r[2:])) for r in q.tuples()]


def sort_order(f: ViewFilter, sort: str | None = None, desc: bool | None = None) -> list[Node]:
    """The ``ORDER BY`` of view ``f``'s rows in the order ``fetch_page`` pages them.

    For a query reading the rows whole rather than a page at a time: an
    export in the screen's order, and the OFFSET reference of the tests.
    """
    spec = VIEWS[f.view]
    sort = sort or spec.default_sort
    desc = spec.default_desc if desc is None else desc
    expr = spec.exprs()[sort]
    idf = _id_field(f)
    first: list[Node] = []
    if spec.column(sort).reported:  # nothing reported first (``_segments``)
        reported = Case(None, [(SQL(RECIPIENT_CLEAN), 0)], 1)
        first = [reported.desc() if desc else reported.asc()]
    if desc:
        return [*first, expr.desc(nulls="last"), idf.desc()]
    return [*first, expr.asc(nulls="first"), idf.asc()]


def offset_page(f: ViewFilter, sort: str | None = None, desc: bool | None = None, *,
                offset: int = 0, limit: int = PAGE_SIZE) -> list[Row]:
    """The same order as ``fetch_page`` read with OFFSET: the reference the tests compare against."""
    q = _select(f, VIEWS[f.view]).order_by(*sort_order(f, sort, desc)).offset(offset).limit(limit)
    return [Row(r[0], r[1], tuple(r[2:])) for r in q.tuples()]


# -- counts -------------------------------------------------------------------------------

def count(f: ViewFilter, cap: int | None = None) -> int:
    """The number of rows of ``f``; with ``cap``, at most ``cap + 1`` rows are counted.

    A capped count keeps a search or an unindexed filter bounded: the screen
    shows "10,000+" instead of scanning a million rows to say 412,345.
    """
    q = base_query(f, SQL("1"))
    if f.search and _count_via_index(f, cap):  # the candidates read by id
        inner = _with_candidates(q, f).limit(cap + 1 if cap is not None else None)
        outer = Select([inner.alias("capped")], [fn.COUNT(SQL("*"))])
        sql, params = database.get_sql_context().sql(outer).query()
        return database.execute_sql(_not_indexed(sql, f), params).fetchone()[0]
    if cap is None:
        return q.count()
    inner = q.limit(cap + 1)
    return Select([inner.alias("capped")], [fn.COUNT(SQL("*"))]).bind(database).scalar()


def _group_expr(view: str, group: str) -> Node:
    """The column ``group`` of the model whose rows ``view`` lists."""
    return getattr(VIEW_MODELS[view], group)


def counts_by(f: ViewFilter, group: str, *, limit: int = 1000) -> list[tuple[Any, str, int]]:
    """Rows of ``f`` counted per value of model column ``group``, largest groups first.

    Returns ``(value, label, count)``; the value goes into ``ViewFilter.extra``
    to drill into the group, the label is what the screen shows (an account's
    or mailing's name instead of its id).  At most ``limit`` groups.
    """
    expr = _group_expr(f.view, group)
    n = fn.COUNT(SQL("*"))
    q = (base_query(f, expr.alias("g"), n.alias("n")).group_by(expr)
         .order_by(n.desc(), expr.asc(nulls="first")).limit(limit))
    out = [(value, "" if value is None else str(value), count_) for value, count_ in q.tuples()]
    if group in ("account", "mailing"):
        model = Account if group == "account" else Mailing
        ids = [v for v, _, _ in out if v is not None]
        names = dict(model.select(model.id, model.name).where(model.id.in_(ids)).tuples()) if ids else {}
        out = [(v, names.get(v, "(none)" if v is None else str(v)), c) for v, _, c in out]
    elif group == "global_block":
        out = [(v, "global" if v else "this account", c) for v, _, c in out]
    return out


def status_counts(f: ViewFilter) -> dict[str, int]:
    """Recipients of ``f`` per status, ignoring its own status filter (one grouped index scan)."""
    base = replace(f, statuses=())
    q = base_query(base, Recipient.status, fn.COUNT(SQL("*"))).group_by(Recipient.status)
    if base.search and _count_via_index(base, None):  # count the search's candidates, not the mailing
        sql, params = database.get_sql_context().sql(_with_candidates(q, base)).query()
        return {status: n for status, n in database.execute_sql(_not_indexed(sql, base), params).fetchall()}
    return {status: n for status, n in q.tuples()}


def recipient_filter_counts(f: ViewFilter) -> dict[str, int]:
    """The count shown next to each filter of the filter bar (keys of ``RECIPIENT_FILTERS``)."""
    per_status = status_counts(f)
    return {name: sum(per_status.get(s, 0) for s in statuses)
            for name, (_label, statuses) in RECIPIENT_FILTERS.items()}


def recipient_filter(mailing_id: int, name: str, **kw: Any) -> ViewFilter:
    """The ViewFilter of filter ``name`` (a key of ``RECIPIENT_FILTERS``) for one mailing."""
    return ViewFilter("recipients", mailing_id=mailing_id, statuses=RECIPIENT_FILTERS[name][1], **kw)


# -- mailings overview ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MailingStats:
    """The overview numbers of one mailing; rates are fractions of ``sent``.

    Statuses are exclusive and only move forward, so "delivered" counts every
    recipient a delivery was confirmed for (delivered, opened, complained),
    and "opened" every recipient an open was seen for, whatever came after.
    """

    sent: int
    delivered: int
    opened: int
    bounced: int
    complained: int
    pending: int

    def rate(self, what: str) -> float | None:
        """``what`` as a fraction of the recipients sent to (None without recipients)."""
        return getattr(self, what) / self.sent if self.sent else None


def mailing_stats(mailing_ids: Sequence[int]) -> dict[int, MailingStats]:
    """The overview numbers of the given mailings (one grouped query for a page of mailings)."""
    raw = mailing_counts(list(mailing_ids)) if mailing_ids else {}
    out: dict[int, MailingStats] = {}
    for mid in mailing_ids:
        c = raw.get(mid, {})
        out[mid] = MailingStats(
            sent=sum(c.get(s, 0) for s in RECIPIENT_STATUSES),
            delivered=c.get("delivered", 0) + c.get("opened", 0) + c.get("complained", 0),
            opened=c.get("opened_any", 0),
            bounced=c.get("bounced", 0),
            complained=c.get("complained", 0),
            pending=c.get("pending", 0),
        )
    return out


def mailing_title(mailing_id: int) -> str:
    """The name of a mailing, for screen titles ('' when it no longer exists)."""
    row = Mailing.select(Mailing.name).where(Mailing.id == mailing_id).first()
    return row.name if row else ""


def accounts() -> list[tuple[int, str]]:
    """Every account as (id, name), by name: the account switcher of the screens."""
    return list(Account.select(Account.id, Account.name).order_by(Account.name, Account.id).tuples())


def account_id_named(name: str | None) -> int | None:
    """The id of the account called ``name`` (None for no name: every account); ``LookupError`` when there is none.

    The command line's ``--account NAME`` goes through here, so ingest and
    events agree on what an unknown name means.
    """
    if not name:
        return None
    row = Account.select(Account.id).where(Account.name == name).first()
    if row is None:
        raise LookupError(f"unknown account {name!r}")
    return row.id


def newest_audit_id() -> int | None:
    """The id of the latest audit entry: every write an operator or an ingest makes leaves one, so a screen
    compares it to tell whether its rows may have changed (ids only grow, whatever the writers' clocks)."""
    return AuditLog.select(fn.MAX(AuditLog.id)).scalar()


def audit_page(after: Cursor | None = None, limit: int = PAGE_SIZE) -> list[AuditLog]:
    """The newest audit entries first, keyset-paged on ``(at, id)``."""
    q = AuditLog.select()
    if after is not None:
        q = q.where(Tuple(AuditLog.at, AuditLog.id) < (_db_value(AuditLog.at, after.value), after.id))
    return list(q.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit))
