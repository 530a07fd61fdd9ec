"""Paged queries: keyset pages equal OFFSET pages for every view, sort and direction, on both backends."""

from __future__ import annotations

import pytest

from models.filters import ViewFilter
from models.queries import (
    RECIPIENT_FILTERS,
    VIEWS,
    count,
    counts_by,
    cursor_of,
    fetch_page,
    fetch_rows,
    mailing_stats,
    offset_page,
    recipient_filter,
    recipient_filter_counts,
)
from models.schema import Recipient
from tests.paging import walk_forward
from tests.seed import HOSTILE_NAME, seed_small


@pytest.fixture
def seeded(db):
    return seed_small(db)


def _walk_backward(f: ViewFilter, sort: str, desc: bool, limit: int) -> list[int]:
    ids: list[int] = []
    after = None
    while True:
        page = fetch_page(f, sort, desc, after=after, limit=limit, before=True)
        ids = [r.id for r in page] + ids
        if len(page) < limit:
            return ids
        after = cursor_of(page[0], f, sort)


def _offset_all(f: ViewFilter, sort: str, desc: bool, limit: int) -> list[int]:
    ids: list[int] = []
    offset = 0
    while True:
        page = offset_page(f, sort, desc, offset=offset, limit=limit)
        ids += [r.id for r in page]
        if len(page) < limit:
            return ids
        offset += limit


def _filters(seeded: dict) -> list[ViewFilter]:
    out = [recipient_filter(seeded["may"], name) for name in RECIPIENT_FILTERS]
    out += [
        ViewFilter("blocked"),
        ViewFilter("blocked", account_id=seeded["accounts"]["acme"]),
        ViewFilter("complaints"),
        ViewFilter("addresses", account_id=seeded["accounts"]["acme"]),
        ViewFilter("events", person_id=seeded["hostile_person"]),
        ViewFilter("mailings", account_id=seeded["accounts"]["acme"]),
    ]
    return out


def test_keyset_pages_equal_offset_pages_for_every_sort(seeded) -> None:
    for f in _filters(seeded):
        for col in VIEWS[f.view].columns:
            for desc in (False, True):
                expected = _offset_all(f, col.key, desc, 7)
                assert walk_forward(f, col.key, desc, 7) == expected, (f, col.key, desc)
                assert _walk_backward(f, col.key, desc, 5) == expected, (f, col.key, desc, "backward")
                assert len(expected) == count(f)


def test_page_contents_match_the_rows(seeded) -> None:
    f = recipient_filter(seeded["may"], "all")
    page = fetch_page(f, "last_event_at", True, limit=200)
    by_id = {r.id: r for r in Recipient.select().where(Recipient.mailing == seeded["may"])}
    assert {r.id for r in page} == set(by_id)
    for row in page:
        rec = by_id[row.id]
        assert row.values[0] == rec.name and row.values[2] == rec.email
        assert row.values[7] == rec.last_event_at  # datetimes come back as datetimes through the union
        assert row.person_id == rec.person_id
    assert HOSTILE_NAME in {r.values[0] for r in page}


def test_filter_counts_and_statuses(seeded) -> None:
    may = seeded["may"]
    counts = recipient_filter_counts(recipient_filter(may, "all"))
    total = Recipient.select().where(Recipient.mailing == may).count()
    assert counts["all"] == total
    for name, (_label, statuses) in RECIPIENT_FILTERS.items():
        expected = Recipient.select().where((Recipient.mailing == may) & Recipient.status.in_(statuses)).count()
        assert counts[name] == expected, name
        assert count(recipient_filter(may, name)) == expected
        rows = fetch_page(recipient_filter(may, name), "name", limit=500)
        assert {r.values[3] for r in rows} <= set(statuses)
    assert counts["bounced"] > 0 and counts["pending"] > 0 and counts["complained"] > 0


def test_search_is_literal_and_case_insensitive(seeded) -> None:
    may = seeded["may"]
    f = ViewFilter("recipients", mailing_id=may, search="ACME")
    rows = fetch_page(f, "email", limit=500)
    assert rows and all("acme" in (r.values[1] + r.values[2]).lower() for r in rows)
    assert count(ViewFilter("recipients", mailing_id=may, search="[link=")) == 1
    assert count(ViewFilter("recipients", mailing_id=may, search="%")) == 0  # % is literal, not a wildcard
    assert count(ViewFilter("recipients", mailing_id=may, search="_")) == 0
    assert count(ViewFilter("recipients", mailing_id=may, search="a"), cap=3) == 4  # capped: cap + 1


def test_group_counts_and_drill_in(seeded) -> None:
    f = recipient_filter(seeded["may"], "all")
    groups = counts_by(f, "domain")
    assert sum(n for _v, _l, n in groups) == count(f)
    value, _label, n = groups[0]
    drilled = ViewFilter("recipients", mailing_id=seeded["may"], statuses=f.statuses, extra=(("domain", value),))
    assert count(drilled) == n
    assert all(r.values[2].endswith("@" + value) for r in fetch_page(drilled, "name", limit=500))
    accounts = counts_by(ViewFilter("blocked"), "account")
    assert {label for _v, label, _n in accounts} == {"Acme Newsletters", "Beta Shop"}


def test_fetch_rows_refreshes_in_place(seeded) -> None:
    f = recipient_filter(seeded["may"], "bounced")
    page = fetch_page(f, "name", limit=3)
    Recipient.update(status="delivered", phase="sent").where(Recipient.id == page[0].id).execute()
    fresh = fetch_rows(f, [r.id for r in page])
    assert {r.id for r in fresh} == {r.id for r in page[1:]}


def test_mailing_stats_rates(seeded) -> None:
    stats = mailing_stats(seeded["mailings"])
    may = stats[seeded["may"]]
    assert may.sent == Recipient.select().where(Recipient.mailing == seeded["may"]).count()
    assert may.bounced == Recipient.select().where(
        (Recipient.mailing == seeded["may"]) & (Recipient.status == "bounced")).count()
    assert may.rate("bounced") == pytest.approx(may.bounced / may.sent)
    draft = stats[seeded["mailings"][2]]
    assert draft.sent == 0 and draft.rate("opened") is None
