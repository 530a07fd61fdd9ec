"""Text search through the trigram indexes: the same rows as the plain substring scan, on both backends.

Every term kind is checked on both routes of the hybrid plan (a selective
term read through the index, a common one walked along the keyset index):
selective, common, shorter than a trigram, matching nothing, upper case, and
LIKE wildcards that must be taken literally.  The index must follow inserts,
updates of the searched columns, and deletes (including the delete-addresses
action), and be built for a database that predates it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

import models.queries as queries
from models import search
from models.actions import delete_addresses
from models.db import close_database, database, is_sqlite, open_database
from models.filters import Target, ViewFilter
from models.queries import (
    RECIPIENT_FILTERS,
    count,
    fetch_page,
    offset_page,
    recipient_filter_counts,
)
from models.address_state import set_state
from models.schema import Account, Address, AddressState, Mailing, RECIPIENT_STATUSES, Recipient
from tests.paging import walk_forward

FIRST = ("Anna", "Bob", "Chloe", "Dmitri", "Eve", "Farid", "Grace", "Hugo")
LAST = ("Smith", "Meyer", "Nakamura", "Okafor", "Rossi", "Zq9-Unique")
COMPANIES = ("Acme", "Globex", "Initech", "50% Off Ltd", "a_b tools", 'The "Quote" Co', "O'Brien & Sons")

TERMS = ("zq9-unique", "ZQ9", "mail", "an", "a", "e", "nomatch-xyz", "50%", "%", "_", "a_b", "a%b",
         '"quote"', "o'brien", "ACME", "meyer1", "@exa")


def _seed(n: int = 180) -> tuple[int, list[Recipient]]:
    account = Account.create(name="search")
    mailing = Mailing.create(account=account, code="search-m1", name="Search")
    other = Mailing.create(account=account, code="search-m2", name="Other")
    rows = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i // 3) % len(LAST)]
        domain = ("example.com", "mail.example", "gmail.com")[i % 3]
        email = f"{first.lower()}.{last.lower()}{i}@{domain}"
        addr = Address.create(account=account, email=email, domain=domain)
        if i % 4 == 0:
            set_state(addr.id, status="blocked")
        status = RECIPIENT_STATUSES[i % len(RECIPIENT_STATUSES)]
        # something reported for the bounced and the pending, and for some others (a delay after an open)
        reported = status in ("bounced", "pending") or i % 7 == 0
        rows.append(Recipient.create(
            mailing=mailing if i % 5 else other, address=addr, email=email, domain=domain,
            name=f"{first} {last}", company=COMPANIES[i % len(COMPANIES)], status=status,
            severity=("soft", "hard", "")[i % 3] if reported else "",
            category=("mailbox_full", "other")[i % 2] if reported else "",
            reason=("mailboxfull", "expired", "")[i % 3] if reported else "",
            last_event_at=None if i % 4 == 0 else dt.datetime(2025, 1, 1) + dt.timedelta(hours=i % 11)))
    return mailing.id, rows


def _expected(term: str, ids_values: list[tuple[int, tuple[str, ...]]]) -> set[int]:
    """The plain substring rule in Python (ASCII data: Python's lower() equals both databases')."""
    t = term.lower()
    return {i for i, values in ids_values if any(t in v.lower() for v in values)}


def _all_ids(f: ViewFilter, sort: str, desc: bool) -> list[int]:
    return [r.id for r in offset_page(f, sort, desc, limit=10_000)]


@pytest.fixture(params=["index", "mid", "scan-common"])
def route(request, monkeypatch) -> str:
    """Every route of the hybrid plan: the index for a selective term, every term treated as common,
    or as mid-frequency (the candidates read only when fewer than the walk's or the filter's rows)."""
    if request.param in ("mid", "scan-common"):
        monkeypatch.setattr(queries, "SEARCH_CANDIDATES_MAX", 0)
    if request.param == "scan-common":
        monkeypatch.setattr(queries, "PAGE_CANDIDATES_MAX", 0)
        monkeypatch.setattr(queries, "COUNT_CANDIDATES_MAX", 0)
    queries._CANDIDATE_COUNTS.clear()
    return request.param


def test_recipient_search_equals_substring_scan(db, route) -> None:
    mailing_id, rows = _seed()
    mine = [(r.id, (r.email, r.name, r.company), r.status) for r in rows if r.mailing_id == mailing_id]
    for term in TERMS:  # the filter bar's counts under a search
        f = ViewFilter("recipients", mailing_id=mailing_id, search=term)
        want_counts = recipient_filter_counts(f)
        for name, (_label, statuses) in RECIPIENT_FILTERS.items():
            assert want_counts[name] == len(_expected(term, [(i, v) for i, v, s in mine if s in statuses])), term
    for name in ("all", "sent", "bounced"):
        statuses = RECIPIENT_FILTERS[name][1]
        in_filter = [(i, v) for i, v, s in mine if s in statuses]
        for term in TERMS:
            f = ViewFilter("recipients", mailing_id=mailing_id, statuses=statuses, search=term)
            want = _expected(term, in_filter)
            assert count(f) == len(want), (name, term)
            assert count(f, cap=3) == min(len(want), 4), (name, term)
            for sort, desc in (("name", False), ("email", True), ("last_event_at", False), ("last_event_at", True),
                               ("severity", True), ("category", False)):
                got = walk_forward(f, sort, desc)
                assert set(got) == want, (name, term, sort)
                assert got == _all_ids(f, sort, desc), (name, term, sort)  # same order as the scan


def test_blocked_search_equals_substring_scan(db, route) -> None:
    _seed()
    blocked = [(a.id, (a.email,)) for a in AddressState.select() if a.status == "blocked"]
    for term in TERMS:
        f = ViewFilter("blocked", search=term)
        want = _expected(term, blocked)
        assert count(f) == len(want), term
        for sort, desc in (("email", False), ("blocked_at", True)):
            got = walk_forward(f, sort, desc)
            assert set(got) == want, (term, sort)
            assert got == _all_ids(f, sort, desc), (term, sort)


def test_index_follows_updates_and_deletes(db) -> None:
    mailing_id, rows = _seed(40)
    target = next(r for r in rows if r.mailing_id == mailing_id)
    f_new = ViewFilter("recipients", mailing_id=mailing_id, search="Wolfeschlegel")
    f_old = ViewFilter("recipients", mailing_id=mailing_id, search=target.email)
    assert count(f_new) == 0 and count(f_old) == 1
    Recipient.update(name="Hubert Wolfeschlegel").where(Recipient.id == target.id).execute()
    assert [r.id for r in fetch_page(f_new)] == [target.id]
    Recipient.update(email="renamed@new.example").where(Recipient.id == target.id).execute()
    assert count(f_old) == 0
    assert count(ViewFilter("recipients", mailing_id=mailing_id, search="renamed@new")) == 1
    # a status change does not touch the index and the row stays found
    Recipient.update(status="bounced", phase="bounced").where(Recipient.id == target.id).execute()
    assert [r.id for r in fetch_page(f_new)] == [target.id]
    Recipient.delete().where(Recipient.id == target.id).execute()
    assert count(f_new) == 0 and fetch_page(f_new) == []

    victim = AddressState.select().where(AddressState.status == "blocked").first()
    f_addr = ViewFilter("blocked", search=victim.email)
    assert [r.id for r in fetch_page(f_addr)] == [victim.id]
    assert delete_addresses(Target(ViewFilter("blocked"), ids=frozenset({victim.id}))) == 1
    assert fetch_page(f_addr) == [] and count(f_addr) == 0
    again = Address.create(account=victim.account_id, email=victim.email, domain=victim.domain)
    set_state(again.id, status="blocked")
    assert [r.id for r in fetch_page(f_addr)] == [again.id]
    if is_sqlite():
        for table in ("recipient_search", "address_search"):
            database.execute_sql(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")


def test_route_choice_and_plan_sqlite(sqlite_db, monkeypatch) -> None:
    mailing_id, _rows = _seed()
    all_ = RECIPIENT_FILTERS["all"][1]
    selective = ViewFilter("recipients", mailing_id=mailing_id, statuses=all_, search="zq9-unique")
    common = ViewFilter("recipients", mailing_id=mailing_id, statuses=all_, search="example")
    short = ViewFilter("recipients", mailing_id=mailing_id, statuses=all_, search="zq")
    monkeypatch.setattr(queries, "SEARCH_CANDIDATES_MAX", 50)
    queries._CANDIDATE_COUNTS.clear()
    assert queries._via_search_index(selective)
    assert not queries._via_search_index(short)  # no trigram in two characters
    # 'example' proposes 120 rows (more than 50): fewer than the walk of six statuses would read
    # (6 x 100 x 180 / 120) and than All's 144 rows, so they are read; Bounced holds 24 rows: walk those
    assert queries._via_search_index(common)
    assert queries._count_via_index(common, None) and queries._count_via_index(common, 1000)
    bounced = replace(common, statuses=("bounced",))
    assert not queries._via_search_index(bounced) and not queries._count_via_index(bounced, None)
    assert not queries._count_via_index(common, 100)  # more candidates than the cap: the capped walk stops sooner
    monkeypatch.setattr(queries, "PAGE_CANDIDATES_MAX", 100)
    assert not queries._via_search_index(common)  # proposes more than the page route's bound: walk
    seen: list[tuple[str, tuple]] = []
    real = sqlite_db.execute_sql

    def spy(sql, params=None, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append((sql, tuple(params or ())))
        return real(sql, params, *a, **kw)

    monkeypatch.setattr(sqlite_db, "execute_sql", spy)
    fetch_page(selective, "severity", True)  # two segments (reported, then nothing reported) ...
    pages = [s for s, _ in seen if "recipient_search" in s and "NOT INDEXED" in s]
    assert len(pages) == 1, pages  # ... read from the candidates once
    seen.clear()
    fetch_page(selective, "name")
    monkeypatch.undo()
    page_sql = [(s, p) for s, p in seen if "recipient_search" in s and "NOT INDEXED" in s]
    assert page_sql, seen
    for sql, params in page_sql:
        plan = " | ".join(r[3] for r in sqlite_db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
        # the candidates come from the FTS index and the rows are read by id, never a table or index walk
        assert "VIRTUAL TABLE INDEX" in plan, plan
        assert "USING INTEGER PRIMARY KEY" in plan, plan
        assert "SCAN t1" not in plan, plan
        # the mailing's id range: one index seek each (a NOT INDEXED there read the whole table)
        assert all("USING" in step for step in plan.split(" | ") if step.startswith("SEARCH")), plan


def test_index_reads_only_the_mailings_id_range(sqlite_db) -> None:
    """A mailing's recipients have neighbouring ids: SQLite's trigram index is read over that stretch only."""
    _mailing_id, rows = _seed()
    account = rows[0].mailing.account
    late = Mailing.create(account=account, code="search-m3", name="Late")
    mine = []
    for i in range(5):
        addr = Address.create(account=account, email=f"late{i}@example.com", domain="example.com")
        mine.append(Recipient.create(mailing=late, address=addr, email=addr.email, domain="example.com",
                                     name=f"Late {i}", company="Acme", status="sent"))
    queries._CANDIDATE_COUNTS.clear()
    f = ViewFilter("recipients", mailing_id=late.id, search="example")
    assert queries._id_range(f) == (mine[0].id, mine[-1].id)
    assert queries._candidate_count(f, 10_000) == 5  # of 125 rows holding "example" in the table
    assert queries._candidate_count(replace(f, mailing_id=None), 10_000) > 100
    assert {r.id for r in fetch_page(f, "name")} == {r.id for r in mine}
    assert count(f) == 5
    empty = Mailing.create(account=account, code="search-m4", name="Empty")
    g = ViewFilter("recipients", mailing_id=empty.id, search="example")
    assert queries._id_range(g) == (0, -1) and queries._candidate_count(g, 10) == 0
    assert fetch_page(g, "name") == [] and count(g) == 0


def test_missing_index_is_rebuilt_on_open(sqlite_url) -> None:
    open_database(sqlite_url)
    mailing_id, rows = _seed(30)
    for table in ("recipient", "address"):
        fts = search.SEARCHED[table][0]
        for suffix in ("ai", "ad", "au"):
            database.execute_sql(f"DROP TRIGGER {fts}_{suffix}")
        database.execute_sql(f"DROP TABLE {fts}")
    Recipient.update(name="Late Addition").where(Recipient.id == rows[1].id).execute()
    close_database()
    open_database(sqlite_url)
    try:
        assert search.has_index(database.obj, "recipient")
        f = ViewFilter("recipients", mailing_id=mailing_id, search="late addition")
        assert queries._via_search_index(f)
        assert [r.id for r in fetch_page(f)] == [rows[1].id]
    finally:
        close_database()


def test_postgres_trigram_indexes(db) -> None:
    if is_sqlite():
        assert search.has_index(database.obj, "recipient") and search.has_index(database.obj, "address")
        return
    names = {r[0] for r in database.execute_sql("SELECT indexname FROM pg_indexes") if r[0].endswith("_trgm")}
    assert names == {"recipient_email_trgm", "recipient_name_trgm", "recipient_company_trgm", "address_email_trgm"}
    mailing_id, _rows = _seed(30)
    f = ViewFilter("recipients", mailing_id=mailing_id, search="zq9-unique")
    assert queries._via_search_index(f)  # the GIN indexes are used for a selective term
    assert not queries._via_search_index(ViewFilter("recipients", mailing_id=mailing_id, search="zq"))
