"""Storing validation verdicts on Address rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from peewee import Database

from models.schema import Account, Address, Selection, SelectionMember
from models.validation import (
    ValidationResult,
    check_syntax,
    find_selection,
    store_results,
    validate_selection,
)
from tests.dns_server import DNSServer


def _address(account: Account, email: str) -> Address:
    return Address.create(account=account, email=email, domain=email.rpartition("@")[2])


def test_store_results_by_email_is_set_based_and_scoped(db: Database) -> None:
    one, two = Account.create(name="one"), Account.create(name="two")
    a1 = _address(one, "ann@acme-mail.com")
    a2 = _address(two, "ann@acme-mail.com")
    b1 = _address(one, "bob@gmial.com")
    untouched = _address(one, "carl@acme-mail.com")
    results = [
        ValidationResult("Ann@ACME-mail.com", "ann@acme-mail.com", "no_domain", "domain does not exist (NXDOMAIN)", None),
        check_syntax("bob@gmial.com"),
    ]
    assert store_results(results, account_id=one.id) == 2
    a1, a2, b1, untouched = (Address.get_by_id(a.id) for a in (a1, a2, b1, untouched))
    assert (a1.validation_status, a1.validation_reason) == ("no_domain", "domain does not exist (NXDOMAIN)")
    assert a1.validated_at is not None
    assert a2.validation_status is None  # other account left alone
    assert (b1.validation_status, b1.validation_suggestion) == ("ok", "bob@gmail.com")
    assert untouched.validation_status is None and untouched.validated_at is None
    # without an account: every account's row with that address
    assert store_results(results[:1]) == 2
    assert Address.get_by_id(a2.id).validation_status == "no_domain"


def test_store_results_by_ids_in_many_chunks(db: Database) -> None:
    acc = Account.create(name="bulk")
    Address.insert_many(
        [{"account": acc.id, "email": f"u{i}@acme-mail.com", "domain": "acme-mail.com"} for i in range(2_500)]
    ).execute()
    rows = list(Address.select(Address.id, Address.email).order_by(Address.id).tuples())
    results = [
        ValidationResult(email, email, "unknown" if i % 2 else "ok", "r", None) for i, (_, email) in enumerate(rows)
    ]
    assert store_results(results, ids=[i for i, _ in rows]) == 2_500
    counts = {s: Address.select().where(Address.validation_status == s).count() for s in ("ok", "unknown")}
    assert counts == {"ok": 1_250, "unknown": 1_250}


def test_validate_selection_stores_on_members_only(db: Database, dns_server: DNSServer) -> None:
    acc = Account.create(name="acme")
    members = [_address(acc, e) for e in ("a@acme-mail.com", "b@acme-nowhere.com", "c@acme-nullmx.com", "d@gmial.com")]
    outsider = _address(acc, "z@acme-nowhere.com")
    sel = Selection.create(account=acc, kind="project", name="Spring launch")
    for m in members:
        SelectionMember.create(selection=sel, address=m)
    dns_server.mx("acme-mail.com", "mx.acme-mail.com")
    dns_server.mx("gmial.com", "mx.gmial.com")
    dns_server.null_mx("acme-nullmx.com")
    seen: list[tuple[int, int]] = []
    run = validate_selection(
        find_selection("Spring launch"), page_size=3, nameservers=[dns_server.nameserver],
        progress=lambda d, t: seen.append((d, t)),
    )
    assert run.dns_used
    assert dict(run.counts) == {"ok": 2, "no_domain": 1, "null_mx": 1}
    assert sorted(r.status for r in run.results) == ["no_domain", "null_mx"]  # only what needs attention
    stored = {a.email: (a.validation_status, a.validation_suggestion) for a in Address.select()}
    assert stored == {
        "a@acme-mail.com": ("ok", None),
        "b@acme-nowhere.com": ("no_domain", None),
        "c@acme-nullmx.com": ("null_mx", None),
        "d@gmial.com": ("ok", "d@gmail.com"),
        "z@acme-nowhere.com": (None, None),
    }
    assert outsider.validation_status is None
    assert seen[-1] == (4, 4)
