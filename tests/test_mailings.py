"""Who receives a new mailing: one query excluding blocked, non-consenting and former employees."""

from __future__ import annotations

import re

import pytest

from models.mailings import create_mailing, eligible_addresses
from models.address_state import set_state
from models.schema import Address, AuditLog, Consent, Recipient
from models.selections import create_selection
from tests import factories
from tests.factories import T0
from tests.sql_spy import recorded_sql


@pytest.fixture
def people(db) -> dict:
    acc = factories.account("acme")
    other = factories.account("other")
    p = {
        "acc": acc,
        "other": other,
        "ok": factories.person(acc, "ok@example.com", name="Ada Lovelace", company="Analytical Ltd"),
        "freelance": factories.person(acc, "solo@example.net", name="Solo Worker", company=None),
        "blocked": factories.person(acc, "blocked@example.com"),
        "global": factories.person(acc, "global@example.com"),
        "global_elsewhere": factories.person(acc, "spread@example.com"),
        "no_consent": factories.person(acc, "never@example.com", consent=None),
        "revoked": factories.person(acc, "revoked@example.com", consent="revoked"),
        "former": factories.person(acc, "former@example.com", former=True),
        "other_account": factories.person(other, "elsewhere@example.com"),
    }
    set_state(p["blocked"].id, status="blocked", blocked_reason="userunknown")
    set_state(p["global"].id, global_block=True)
    # the same e-mail in another account carries the global block; this account's row predates it
    twin = factories.person(other, "spread@example.com")
    set_state(twin.id, status="blocked", global_block=True)
    p["orphan"] = Address.create(account=acc, email="nobody@example.com", domain="example.com")
    return p


def emails(q) -> set[str]:
    return {a.email for a in q}


def test_eligible_excludes_each_cause(people) -> None:
    got = emails(eligible_addresses(people["acc"].id))
    assert got == {"ok@example.com", "solo@example.net"}


def test_each_cause_alone_is_what_excludes(people) -> None:
    # lifting each cause brings exactly that address back: the exclusions are not accidental
    acc = people["acc"].id
    set_state(people["blocked"].id, status="active")
    assert "blocked@example.com" in emails(eligible_addresses(acc))
    Consent.update(state="granted").where(Consent.person == people["revoked"].person_id).execute()
    assert "revoked@example.com" in emails(eligible_addresses(acc))
    Consent.create(person=people["no_consent"].person_id, state="granted", source="form")
    assert "never@example.com" in emails(eligible_addresses(acc))
    from models.schema import Person

    Person.update(former_employee=False).where(Person.id == people["former"].person_id).execute()
    assert "former@example.com" in emails(eligible_addresses(acc))
    Consent.update(state="revoked").where(Consent.person == people["ok"].person_id).execute()
    assert "ok@example.com" not in emails(eligible_addresses(acc))


def test_eligible_is_one_query_narrowed_by_selection(people) -> None:
    q = eligible_addresses(people["acc"].id)
    sql, _params = q.sql()
    assert sql.lstrip().upper().startswith("SELECT") and sql.count(";") == 0
    assert q.count() == 2
    sel = create_selection("Only Ada", "selection")
    from models.schema import SelectionMember

    for key in ("ok", "blocked"):
        SelectionMember.create(selection=sel, address=people[key], person=people[key].person_id)
    assert emails(eligible_addresses(people["acc"].id, selection_id=sel.id)) == {"ok@example.com"}


def test_create_mailing_fills_recipients(people) -> None:
    mailing, n = create_mailing(people["acc"].id, "NL-2026-11", "November newsletter", subject="News",
                                sent_at=T0, message_id_domain="mail.acme.example")
    assert n == 2
    recs = {r.email: r for r in Recipient.select().where(Recipient.mailing == mailing.id)}
    assert set(recs) == {"ok@example.com", "solo@example.net"}
    ada = recs["ok@example.com"]
    assert (ada.name, ada.company, ada.domain, ada.status, ada.opened, ada.sent_at) == (
        "Ada Lovelace", "Analytical Ltd", "example.com", "sent", False, T0)
    assert ada.address_id == people["ok"].id and ada.person_id == people["ok"].person_id
    assert recs["solo@example.net"].company == ""
    tokens = [r.token for r in recs.values()]
    assert len(set(tokens)) == 2
    for r in recs.values():
        assert re.fullmatch(rf"[0-9a-f]{{10}}-{mailing.id}-{r.address_id}", r.token)
        assert r.message_id == f"<{r.token}@mail.acme.example>"
    entry = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert (entry.action, entry.affected) == ("create mailing", 2)


def test_second_mailing_gets_fresh_tokens(people) -> None:
    m1, _ = create_mailing(people["acc"].id, "A", "A")
    m2, _ = create_mailing(people["acc"].id, "B", "B")
    t1 = {r.token for r in Recipient.select().where(Recipient.mailing == m1.id)}
    t2 = {r.token for r in Recipient.select().where(Recipient.mailing == m2.id)}
    assert len(t1) == len(t2) == 2 and not t1 & t2
    assert all(r.sent_at is None for r in Recipient.select().where(Recipient.mailing == m2.id))


def test_create_mailing_needs_a_code(people) -> None:
    with pytest.raises(ValueError, match="needs a code"):
        create_mailing(people["acc"].id, "  ", "x")


def test_eligible_runs_as_one_statement_and_create_mailing_is_set_based(people) -> None:
    """Reading the eligible addresses is one round trip; filling a mailing does not grow with its size."""
    with recorded_sql() as seen:
        got = emails(eligible_addresses(people["acc"].id))
        assert got == {"ok@example.com", "solo@example.net"} and len(seen) == 1
        seen.clear()
        create_mailing(people["acc"].id, "S1", "small")
        small = len(seen)
        for i in range(40):
            factories.person(people["acc"], f"more{i}@example.com", name=f"More {i}")
        seen.clear()
        _mailing, n = create_mailing(people["acc"].id, "S2", "bigger")
        assert n == 42 and len(seen) == small
