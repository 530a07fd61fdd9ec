"""Paged queries: keyset pages equal OFFSET pages for every view, sort and direction, on both backends."""

from __future__ import annotations

from dataclasses import replace

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
from models.schema import RECIPIENT_CLEAN, RECIPIENT_REPORTED_SORTS, Recipient
from tests.paging import walk_forward
from tests.seed import HOSTILE_NAME, seed_small
from tests.sql_spy import recorded_sql


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


def test_reported_sorts_put_nothing_reported_first_whatever_the_phase(seeded) -> None:
    """Severity, category and reason page through partial indexes (``RECIPIENT_REPORTED_SORTS``).

    The rows with nothing reported come first in id order, then the others by
    (value, id), in every phase: also a bounced recipient with nothing
    reported, an opened one that a later delay gave a category, and a reported
    one whose sorted column itself is empty.  Keyset pages equal OFFSET pages
    for every sort and direction, and a drill-down into a reported value
    skips the segment of the rows with nothing reported.
    """
    may = seeded["may"]
    rows = list(Recipient.select().where(Recipient.mailing == may).order_by(Recipient.id))
    odd = [(rows[3], "bounced", "", "", ""), (rows[1], "opened", "soft", "other", "delayed"),
           (rows[2], "sent", "", "policy", ""), (rows[4], "opened", "", "", "expired")]
    for r, status, severity, category, reason in odd:
        r.status, r.severity, r.category, r.reason = status, severity, category, reason
        r.save()
    f = recipient_filter(may, "all")
    for sort in RECIPIENT_REPORTED_SORTS:
        for desc in (False, True):
            expected = _offset_all(f, sort, desc, 3)
            assert walk_forward(f, sort, desc, 3) == expected, (sort, desc)
            assert _walk_backward(f, sort, desc, 2) == expected, (sort, desc, "backward")
        page = fetch_page(f, sort, False, limit=1000)
        clean = [r.id for r in page if not (r.values[4] or r.values[5] or r.values[6])]
        assert clean and [r.id for r in page[:len(clean)]] == sorted(clean), sort
        assert rows[3].id in clean and rows[1].id not in clean
        rest = page[len(clean):]
        key = [c.key for c in VIEWS["recipients"].columns].index(sort)
        assert [(r.values[key], r.id) for r in rest] == sorted((r.values[key], r.id) for r in rest)
        assert cursor_of(page[0], f, sort).value is None and cursor_of(rest[0], f, sort).value == rest[0].values[key]
    drilled = replace(f, extra=(("category", "policy"),))
    with recorded_sql() as seen:  # no walk through the rows with nothing reported: none of them can match
        by_severity = fetch_page(drilled, "severity", limit=1000)
    assert seen and not any(RECIPIENT_CLEAN in sql for sql, _ in seen)
    assert {r.id for r in by_severity} == {
        r.id for r in Recipient.select().where((Recipient.mailing == may) & (Recipient.category == "policy"))}
    assert walk_forward(drilled, "reason", True, 2) == _offset_all(drilled, "reason", True, 2)
