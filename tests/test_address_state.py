"""The bounce-state table: a row only for a non-default state, and bulk changes that rebuild its indexes."""

from __future__ import annotations

import pytest
from peewee import IntegrityError

from models import address_state
from models.actions import clear_bounce_flag, undo
from models.address_state import bulk_change, set_state, state_of, write_states
from models.db import database, is_sqlite, write_transaction
from models.filters import Target, ViewFilter
from models.queries import count, fetch_page
from models.schema import AddressState, AuditLog
from tests import factories
from tests.factories import T0
from tests.sql_spy import statements


def _blocked_index_names() -> set[str]:
    return {i.name for i in database.get_indexes("address_state") if i.name.startswith("address_state_blocked_")}


def _statements(fn) -> list[str]:  # noqa: ANN001
    return [sql for sql, _params in statements(fn)]


def test_a_state_row_exists_only_while_the_state_is_not_the_default(db) -> None:
    acc = factories.account("acme")
    a = factories.person(acc, "ada@example.com")
    assert state_of(a.id).status == "active" and not AddressState.select().exists()
    set_state(a.id, bounce_count=2)
    row = AddressState.get_by_id(a.id)
    assert (row.bounce_count, row.account_id, row.email, row.domain) == (2, acc.id, "ada@example.com", "example.com")
    set_state(a.id, status="blocked")  # a block always gets a reason and a time
    assert state_of(a.id).blocked_reason == "undefined" and state_of(a.id).blocked_at is not None
    write_states([{"id": a.id, "account_id": acc.id, "email": a.email, "domain": a.domain,
                   **address_state.DEFAULT_STATE}])
    assert not AddressState.select().exists()
    with pytest.raises(TypeError, match="not state columns: email"):
        set_state(a.id, email="x@example.com")


def test_a_blocked_row_without_reason_or_time_is_refused(db) -> None:
    a = factories.person(factories.account("acme"), "ada@example.com")
    with pytest.raises(IntegrityError):
        with database.atomic():
            AddressState.insert(id=a.id, account=a.account_id, email=a.email, domain=a.domain, status="blocked",
                                bounce_count=0, global_block=False).execute()


def test_deleting_the_address_deletes_its_state(db) -> None:
    a = factories.person(factories.account("acme"), "ada@example.com")
    set_state(a.id, status="blocked", blocked_reason="userunknown", blocked_at=T0)
    a.delete_instance()
    assert not AddressState.select().exists()


def test_a_large_clear_rebuilds_the_blocked_indexes_on_sqlite_only(db, monkeypatch) -> None:
    """Below the thresholds of ``bulk_change`` nothing is dropped; above them (lowered here) SQLite rebuilds."""
    acc = factories.account("acme")
    other = factories.account("other")
    for i in range(30):
        a = factories.person(acc if i % 3 else other, f"b{i}@bulk.example", company=None)
        set_state(a.id, status="blocked", blocked_reason="userunknown", blocked_at=T0, bounce_count=i % 4)
    keep = factories.person(acc, "counting@example.com")
    set_state(keep.id, bounce_count=3)
    names = _blocked_index_names()
    assert len(names) == 12

    sql = _statements(lambda: clear_bounce_flag(Target(ViewFilter("blocked"))))
    assert not [s for s in sql if s.startswith("DROP INDEX")]  # 30 rows: row by row
    undo(AuditLog.select(AuditLog.id).where(AuditLog.action == "clear bounce flag").scalar())

    monkeypatch.setattr(address_state, "REBUILD_MIN_ROWS", 10)
    sql = _statements(lambda: clear_bounce_flag(Target(ViewFilter("blocked"))))
    dropped = [s for s in sql if s.startswith("DROP INDEX")]
    assert len(dropped) == (12 if is_sqlite() else 0)
    assert _blocked_index_names() == names
    assert list(AddressState.select(AddressState.id).tuples()) == [(keep.id,)]
    assert count(ViewFilter("blocked")) == 0

    entry = AuditLog.select().where(AuditLog.action == "clear bounce flag").order_by(AuditLog.id.desc()).first()
    sql = _statements(lambda: undo(entry.id))
    assert len([s for s in sql if s.startswith("DROP INDEX")]) == (12 if is_sqlite() else 0)
    assert _blocked_index_names() == names
    assert count(ViewFilter("blocked")) == 30
    assert len(fetch_page(ViewFilter("blocked"), "bounce_count", limit=100)) == 30


def test_a_failed_bulk_change_leaves_the_indexes_and_rows(db, monkeypatch) -> None:
    acc = factories.account("acme")
    for i in range(12):
        a = factories.person(acc, f"b{i}@bulk.example", company=None)
        set_state(a.id, status="blocked", blocked_reason="userunknown", blocked_at=T0)
    monkeypatch.setattr(address_state, "REBUILD_MIN_ROWS", 10)
    names = _blocked_index_names()
    with pytest.raises(RuntimeError, match="boom"):
        with write_transaction():
            with bulk_change(12):
                AddressState.delete().execute()
                raise RuntimeError("boom")
    assert _blocked_index_names() == names
    assert AddressState.select().count() == 12
