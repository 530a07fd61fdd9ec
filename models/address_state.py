"""Reading and writing an address's bounce state (``models.schema.AddressState``).

An address without a state row is active with nothing counted; a row exists
only while the state differs from that.  Every writer goes through here so
that the invariant holds: ``write_states`` deletes the rows that went back to
the default and upserts the others.

Bulk changes (an operator's clear of 100,000 flags, its undo) use
``bulk_change``: on SQLite, when a change removes or adds a large share of
the rows, the Blocked screen's partial indexes are dropped and created again
inside the same transaction.  Why: SQLite maintains an index row by row, one
B-tree deletion per row and index (~0.15 s per 100,000 rows and index, six
indexes); building an index over the rows that remain is one sort, a few
hundredths of a second for the ~25,000 rows left after a clear at a million
addresses.  DDL is transactional in SQLite: a rollback brings the indexes
back, other connections never see the table without them (their snapshot
predates the change) and re-prepare their statements on their own.
PostgreSQL needs none of this: its index deletions are lazy (left to vacuum),
so a plain ``DELETE`` is already cheap there.

Also on SQLite, a bulk change runs with ``secure_delete = FAST``: Debian
builds SQLite with secure delete on, which overwrites every freed page with
zeros, so dropping the indexes and emptying most of the table wrote ~25 MB of
zeros into the WAL (and then the database file) at a million addresses, half
of the clear's I/O.  Nothing private is lost by skipping that: the deleted
state rows are copied into the audit items in the same transaction (the undo
journal), and the dropped index entries are copies of table rows.  FAST still
zeroes deleted content on pages that are written anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from peewee import ModelIndex, Node, PostgresqlDatabase, fn

from models.db import database, driver_sql, is_sqlite
from models.schema import Address, AddressState, utcnow

#: The state columns, in the order the raw statements below use.
STATE_FIELDS: Final = ("status", "bounce_count", "blocked_reason", "blocked_category", "blocked_at",
                       "blocked_cause", "global_block")
#: The state of an address without a row.
DEFAULT_STATE: Final[Mapping[str, Any]] = {
    "status": "active", "bounce_count": 0, "blocked_reason": None, "blocked_category": None,
    "blocked_at": None, "blocked_cause": None, "global_block": False,
}
#: The columns a stored row has besides the state: the address's id and the copies of its account and e-mail.
ROW_FIELDS: Final = ("id", "account_id", "email", "domain", *STATE_FIELDS)

#: A bulk change rebuilds the partial indexes (SQLite) when it touches more
#: rows than this *and* more than this share of the table: below that, the
#: row-by-row maintenance is cheaper than sorting the whole table again.
REBUILD_MIN_ROWS: Final = 10_000
REBUILD_SHARE: Final = 0.2

_UPSERT = (
    f"INSERT INTO address_state ({', '.join(ROW_FIELDS)}) VALUES ({', '.join('?' * len(ROW_FIELDS))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ROW_FIELDS[1:])
)


def is_default(state: Mapping[str, Any]) -> bool:
    """True when ``state`` is the state of an address without a row (active, 0, no block)."""
    return (state["status"] == "active" and not state["bounce_count"] and not state["global_block"]
            and state["blocked_reason"] is None and state["blocked_at"] is None)


def state_or_default(name: str) -> Node:
    """State column ``name`` of an address with ``AddressState`` outer-joined: the default where it has no row."""
    column = getattr(AddressState, name)
    default = DEFAULT_STATE[name]
    return column if default is None else fn.COALESCE(column, default)


def state_of(address_id: int) -> AddressState:
    """The address's state: its row, or an unsaved row holding the default state."""
    row = AddressState.get_or_none(AddressState.id == address_id)
    return row if row is not None else AddressState(id=address_id, **DEFAULT_STATE)


def write_states(rows: Sequence[Mapping[str, Any]]) -> None:
    """Store each address's new state (a mapping of ``ROW_FIELDS``): default ones deleted, others upserted.

    Rows are written in id order, the order every writer locks rows in.
    """
    rows = sorted(rows, key=lambda r: r["id"])
    gone = [(r["id"],) for r in rows if is_default(r)]
    kept = [tuple(r[c] for c in ROW_FIELDS) for r in rows if not is_default(r)]
    cursor = database.cursor()
    if gone:
        cursor.executemany(driver_sql("DELETE FROM address_state WHERE id = ?"), gone)
    if kept:
        cursor.executemany(driver_sql(_UPSERT), kept)


def set_state(address_id: int, **values: Any) -> None:
    """Change some state columns of one address (the others keep their current value).

    Blocking without a time or reason gets the current time and ``undefined``:
    a blocked row always has both.
    """
    address = Address.get_by_id(address_id)
    current = state_of(address_id)
    state = {c: getattr(current, c) for c in STATE_FIELDS}
    unknown = set(values) - set(STATE_FIELDS)
    if unknown:
        raise TypeError(f"not state columns: {', '.join(sorted(unknown))}")
    state.update(values)
    if state["status"] == "blocked":
        state["blocked_at"] = state["blocked_at"] or utcnow()
        state["blocked_reason"] = state["blocked_reason"] or "undefined"
    write_states([{"id": address.id, "account_id": address.account_id, "email": address.email,
                   "domain": address.domain, **state}])


def lock_state_writers() -> None:
    """PostgreSQL: serialise the writers of address state (ingest rules, bulk actions, their undo).

    The rules read a state and write it back; an operator's clear between the
    read and the write would be silently undone.  A transaction-scoped
    advisory lock orders them (ingest already held it).  SQLite needs
    nothing: its write transactions (``BEGIN IMMEDIATE``) exclude each other.
    """
    if isinstance(database.obj, PostgresqlDatabase):
        database.execute_sql(driver_sql("SELECT pg_advisory_xact_lock(?)"), (0xB0_0CE,))


def blocked_indexes() -> list[ModelIndex]:
    """The Blocked screen's partial indexes of the state table (those ``bulk_change`` may rebuild)."""
    return [i for i in AddressState._meta.indexes
            if isinstance(i, ModelIndex) and i._name.startswith("address_state_blocked_")]


@contextmanager
def bulk_change(rows: int, *, adding: bool = False) -> Iterator[None]:
    """Around a set-based change of ``rows`` state rows (removed, or ``adding`` them), inside a transaction.

    On SQLite, a change of a large share of the table runs without the
    Blocked screen's indexes, which are built again afterwards (see the module
    docstring for why); otherwise, and on PostgreSQL, it just runs.
    """
    if not is_sqlite():
        yield
        return
    rebuild = False
    if rows > REBUILD_MIN_ROWS:
        total = AddressState.select().count()
        rebuild = rows > REBUILD_SHARE * (total + rows if adding else total)
    secure = database.execute_sql("PRAGMA secure_delete").fetchone()[0]
    database.execute_sql("PRAGMA secure_delete = FAST")
    try:
        indexes = blocked_indexes() if rebuild else []
        for index in indexes:
            database.execute_sql(f'DROP INDEX IF EXISTS "{index._name}"')
        yield
        for index in indexes:
            database.execute(AddressState._schema._create_index(index, safe=False))
    finally:
        database.execute_sql(f"PRAGMA secure_delete = {int(secure)}")
