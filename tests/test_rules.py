"""The address rules of taxonomy.md, applied by ``record_events``."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from models.events import EventIn, record_events, sweep_pending
from models.address_state import state_of
from models.schema import Address, AddressState, AuditItem, AuditLog, Consent, Event, Recipient
from models.settings import set_setting
from models.stats import database_summary
from models.taxonomy import classify
from tests import factories as f

_keys = itertools.count()


def ev(email: str, kind: str = "bounce", reason: str = "userunknown", status: str = "5.1.1", **kw) -> EventIn:
    kw.setdefault("occurred_at", f.T0 + dt.timedelta(minutes=next(_keys)))
    kw.setdefault("dedupe_key", f"k{next(_keys)}")
    return EventIn(email=email, kind=kind, reason=reason, smtp_status=status, **kw)


def addr(email: str, account=None) -> AddressState:
    """The bounce state of the address (the defaults when it has no state row)."""
    q = Address.select().where(Address.email == email)
    if account is not None:
        q = q.where(Address.account == account)
    return state_of(q.get().id)


def test_classify_hard_only_for_four_reasons_with_permanent_code() -> None:
    assert classify("bounce", "userunknown", "5.1.1").severity == "hard"
    assert classify("bounce", "userunknown", "4.1.1").severity == "soft"
    assert classify("bounce", "mailboxfull", "5.2.2").severity == "soft"
    assert classify("bounce", "notaccept", "", "556").severity == "hard"
    assert classify("bounce", "hostunknown", "5.1.2", gave_up=True).severity == "soft"
    assert classify("bounce", "blocked", "5.7.1").blame == "sender"
    assert classify("delay", "expired", "4.4.7").severity == "pending"
    assert classify("complaint", "feedback").category == "complaint"
    assert classify("bounce", "filtered", "5.7.1", hard_categories=frozenset({"policy"})).severity == "hard"


def test_hard_bounce_blocks_at_once_with_audit(db) -> None:
    acc = f.account()
    a = f.person(acc, "Ada@Example.com")
    f.mailing(acc, "m1", [a])
    r = record_events([ev("ada@example.com", diagnostic="550 5.1.1 <ada@example.com>: no such user [/]",
                          source="x.eml")])
    assert (r.events, r.blocked) == (1, 1)
    got = addr("ada@example.com")
    assert got.status == "blocked" and got.blocked_reason == "userunknown"
    assert got.blocked_category == "unknown_user"
    assert "hard bounce" in got.blocked_cause and "x.eml" in got.blocked_cause
    rec = Recipient.get()
    assert (rec.status, rec.severity, rec.category) == ("bounced", "hard", "unknown_user")
    entry = AuditLog.get(AuditLog.action == "rule: block address")
    item = AuditItem.get(AuditItem.audit == entry)
    assert item.address_id == a.id and item.prev_status == "active"


def test_soft_bounces_count_and_the_sixth_blocks(db) -> None:
    acc = f.account()
    a = f.person(acc, "bob@example.org")
    for i in range(5):
        record_events([ev("bob@example.org", reason="mailboxfull", status="4.2.2")])
    got = addr("bob@example.org")
    assert (got.status, got.bounce_count) == ("active", 5)
    r = record_events([ev("bob@example.org", reason="mailboxfull", status="5.2.2")])
    got = addr("bob@example.org")
    assert r.blocked == 1 and got.status == "blocked" and got.bounce_count == 6
    assert "6 > limit 5" in got.blocked_cause
    assert a.id == got.id


def test_soft_limit_is_a_setting(db) -> None:
    acc = f.account()
    f.person(acc, "c@example.org")
    set_setting("soft_bounce_limit", 1)
    record_events([ev("c@example.org", reason="mailboxfull", status="4.2.2")])
    assert addr("c@example.org").status == "active"
    record_events([ev("c@example.org", reason="mailboxfull", status="4.2.2")])
    assert addr("c@example.org").status == "blocked"


@pytest.mark.parametrize("reset_kind", ["delivered", "open"])
def test_delivery_or_open_resets_the_count(db, reset_kind) -> None:
    acc = f.account()
    f.person(acc, "d@example.org")
    record_events([ev("d@example.org", reason="mailboxfull", status="4.2.2") for _ in range(4)])
    assert addr("d@example.org").bounce_count == 4
    record_events([ev("d@example.org", kind=reset_kind, reason="", status="")])
    assert addr("d@example.org").bounce_count == 0


def test_sender_blame_is_recorded_never_counted(db) -> None:
    acc = f.account()
    a = f.person(acc, "e@example.org")
    f.mailing(acc, "m1", [a])
    record_events([ev("e@example.org", reason="blocked", status="5.7.1") for _ in range(10)])
    got = addr("e@example.org")
    assert (got.status, got.bounce_count) == ("active", 0)
    assert Event.select().where(Event.blame == "sender").count() == 10
    assert Recipient.get().status == "bounced"


def test_pending_then_sweep_counts_once(db) -> None:
    acc = f.account()
    a = f.person(acc, "p@example.org")
    f.mailing(acc, "m1", [a])
    record_events([ev("p@example.org", kind="delay", reason="expired", status="4.4.7", occurred_at=f.T0)])
    assert Recipient.get().status == "pending"
    assert addr("p@example.org").bounce_count == 0
    assert sweep_pending(now=f.T0 + dt.timedelta(hours=71)).events == 0
    r = sweep_pending(now=f.T0 + dt.timedelta(hours=73))
    assert r.events == 1 and r.counted == 1
    assert addr("p@example.org").bounce_count == 1
    assert Recipient.get().status == "bounced"
    again = sweep_pending(now=f.T0 + dt.timedelta(hours=80))
    assert again.events == 0


def test_delivery_ends_pending_before_sweep(db) -> None:
    acc = f.account()
    a = f.person(acc, "q@example.org")
    f.mailing(acc, "m1", [a])
    record_events([ev("q@example.org", kind="delay", reason="expired", status="4.4.7", occurred_at=f.T0)])
    record_events([ev("q@example.org", kind="delivered", reason="", status="2.0.0",
                      occurred_at=f.T0 + dt.timedelta(hours=5))])
    assert Recipient.get().status == "delivered"
    assert sweep_pending(now=f.T0 + dt.timedelta(hours=100)).events == 0


def test_failed_with_4xx_is_soft_not_delay(db) -> None:
    acc = f.account()
    f.person(acc, "g@example.org")
    record_events([ev("g@example.org", reason="expired", status="4.4.7", gave_up=True)])
    e = Event.get()
    assert (e.kind, e.severity) == ("bounce", "soft")
    assert addr("g@example.org").bounce_count == 1


def test_global_bounce_blocks_in_every_account(db) -> None:
    accounts = [f.account(f"acc{i}") for i in range(4)]
    for acc in accounts:
        f.person(acc, "gone@example.net")
    for acc in accounts[:2]:
        record_events([ev("gone@example.net", account_id=acc.id)])
    assert AddressState.select().where(AddressState.global_block == True).count() == 0  # noqa: E712
    r = record_events([ev("gone@example.net", account_id=accounts[2].id)])
    assert r.global_blocks == 1
    rows = [state_of(a.id) for a in Address.select().where(Address.email == "gone@example.net")]
    assert all(a.global_block and a.status == "blocked" for a in rows)
    assert addr("gone@example.net", accounts[3]).status == "blocked"
    assert AuditLog.select().where(AuditLog.action == "rule: global bounce").count() == 1
    summary = dict(database_summary())  # one e-mail address, blocked in four accounts: counted once
    assert (summary["globally blocked e-mail addresses"], summary["blocked addresses"]) == (1, 4)


def test_soft_bounces_in_many_accounts_are_not_global(db) -> None:
    accounts = [f.account(f"acc{i}") for i in range(3)]
    for acc in accounts:
        f.person(acc, "full@example.net")
        record_events([ev("full@example.net", reason="mailboxfull", status="5.2.2", account_id=acc.id)])
    assert AddressState.select().where(AddressState.global_block == True).count() == 0  # noqa: E712


@pytest.mark.parametrize("feedback,revoked", [("abuse", True), ("fraud", True), (None, True), ("not-spam", False)])
def test_complaint_revokes_consent(db, feedback, revoked) -> None:
    acc = f.account()
    a = f.person(acc, "h@example.org")
    f.mailing(acc, "m1", [a])
    r = record_events([ev("h@example.org", kind="complaint", reason="feedback", status="", feedback_type=feedback)])
    consent = Consent.get(Consent.person == a.person_id)
    assert (consent.state == "revoked") is revoked
    assert r.consent_revoked == (1 if revoked else 0)
    assert Recipient.get().status == "complained"
    assert addr("h@example.org").status == "active"  # a complaint is about consent, not deliverability
    if revoked:
        assert "complaint" in consent.source
        assert AuditLog.select().where(AuditLog.action == "rule: revoke consent").count() == 1


def test_duplicate_event_changes_nothing(db) -> None:
    acc = f.account()
    f.person(acc, "i@example.org")
    e1 = ev("i@example.org", reason="mailboxfull", status="4.2.2", dedupe_key="same")
    assert record_events([e1]).events == 1
    again = record_events([ev("i@example.org", reason="mailboxfull", status="4.2.2", dedupe_key="same")])
    assert (again.events, again.duplicates) == (0, 1)
    assert addr("i@example.org").bounce_count == 1
    within = record_events([ev("i@example.org", dedupe_key="x"), ev("i@example.org", dedupe_key="x")])
    assert (within.events, within.duplicates) == (1, 1)


def test_linking_by_token_code_and_message_id(db) -> None:
    acc = f.account()
    a1 = f.person(acc, "one@example.org")
    a2 = f.person(acc, "two@example.org")
    a3 = f.person(acc, "three@example.org")
    m1 = f.mailing(acc, "m1", [a1, a2, a3])
    f.mailing(acc, "m2", [a1, a2, a3], sent_at=f.T0 + dt.timedelta(days=1))
    record_events([
        ev("one@example.org", verp_token=f"m1-{a1.id}"),
        ev("two@example.org", mailing_code="m1"),
        ev("three@example.org", original_message_id=f"<m1.{a3.id}@mail.example.com>"),
    ])
    bounced = {r.email for r in Recipient.select().where(Recipient.status == "bounced")}
    assert bounced == {"one@example.org", "two@example.org", "three@example.org"}
    assert {r.mailing_id for r in Recipient.select().where(Recipient.status == "bounced")} == {m1.id}


def test_mailing_code_links_the_recipient_of_that_mailing_only(db) -> None:
    """A (mailing code, e-mail) hint picks that mailing's recipient: not the same e-mail's address in
    another account, not the address's recipient in another mailing of the batch, and a recipient
    whose address was deleted is still found by its e-mail."""
    acc1, acc2 = f.account("one"), f.account("two")
    shared1, shared2 = f.person(acc1, "shared@example.org"), f.person(acc2, "shared@example.org")
    gone = f.person(acc1, "gone@example.org")
    other = f.person(acc1, "other@example.org")
    m1 = f.mailing(acc1, "m1", [shared1, gone, other])
    m2 = f.mailing(acc2, "m2", [shared2])
    m3 = f.mailing(acc1, "m3", [shared1, other], sent_at=f.T0 + dt.timedelta(days=1))
    Recipient.update(address=None).where(Recipient.address == gone.id).execute()
    gone.delete_instance()
    result = record_events([
        ev("shared@example.org", mailing_code="m2"),
        ev("gone@example.org", mailing_code="m1"),
        ev("other@example.org", mailing_code="m1", kind="delivered", reason="", status=""),
        ev("other@example.org", mailing_code="m3"),
    ])
    assert result.unmatched == 1  # the deleted address: its recipient is found, the address is not
    status = {(r.mailing_id, r.email): r.status for r in Recipient.select()}
    assert status == {
        (m1.id, "shared@example.org"): "sent", (m2.id, "shared@example.org"): "bounced",
        (m3.id, "shared@example.org"): "sent",
        (m1.id, "gone@example.org"): "bounced",
        (m1.id, "other@example.org"): "delivered", (m3.id, "other@example.org"): "bounced",
    }
    assert addr("shared@example.org", acc2).status == "blocked"
    assert addr("shared@example.org", acc1).status == "active"
    linked = {(e.email, e.mailing_id): (e.account_id, e.recipient_id is not None) for e in Event.select()}
    assert linked[("shared@example.org", m2.id)] == (acc2.id, True)
    assert linked[("gone@example.org", m1.id)] == (acc1.id, True)


def test_mailing_code_links_by_the_e_mail_the_recipient_was_sent_to(db) -> None:
    """An address edited after the mailing: a report about the e-mail the mailing went to links that recipient
    (here one whose address was deleted), not the edited address's recipient."""
    acc = f.account()
    edited, gone = f.person(acc, "x@example.org"), f.person(acc, "y@example.org")
    m1 = f.mailing(acc, "m1", [edited, gone])
    Recipient.update(address=None).where(Recipient.address == gone.id).execute()
    gone.delete_instance()
    Address.update(email="y@example.org").where(Address.id == edited.id).execute()  # x@ edited to the freed y@
    record_events([ev("y@example.org", mailing_code="m1")])
    status = {r.email: (r.status, r.address_id) for r in Recipient.select().where(Recipient.mailing == m1)}
    assert status == {"x@example.org": ("sent", edited.id), "y@example.org": ("bounced", None)}
    assert addr("y@example.org").status == "active"  # the edited address is not blamed for the old one


def test_unknown_address_is_stored_unmatched(db) -> None:
    r = record_events([ev("stranger@example.org")])
    assert (r.events, r.unmatched, r.blocked) == (1, 1, 0)
    assert Event.get().address_id is None


def test_suppressed_mirrors_block_without_counting(db) -> None:
    acc = f.account()
    f.person(acc, "s@example.org")
    record_events([ev("s@example.org", reason="suppressed", status="", severity="suppressed", provider="ses")])
    got = addr("s@example.org")
    assert got.status == "blocked" and got.bounce_count == 0


def test_batch_equals_one_by_one(db) -> None:
    acc = f.account()
    f.person(acc, "j@example.org")
    f.person(acc, "k@example.org")
    seq = ([ev("j@example.org", reason="mailboxfull", status="4.2.2") for _ in range(3)]
           + [ev("j@example.org", kind="delivered", reason="", status="")]
           + [ev("j@example.org", reason="mailboxfull", status="4.2.2") for _ in range(2)]
           + [ev("k@example.org", reason="mailboxfull", status="4.2.2") for _ in range(7)])
    # shuffled input: record_events orders by time
    record_events(list(reversed(seq)))
    assert addr("j@example.org").bounce_count == 2
    k = addr("k@example.org")
    assert k.status == "blocked" and k.bounce_count == 7


def test_sweep_command(db_url, capsys) -> None:
    from models.db import open_database
    from tui.cli import main

    open_database(db_url)
    acc = f.account()
    a = f.person(acc, "late@example.org")
    f.mailing(acc, "m1", [a])
    record_events([ev("late@example.org", kind="delay", reason="expired", status="4.4.7", occurred_at=f.T0)])
    assert main(["--db", db_url, "sweep"]) == 0
    assert "1 pending recipients" in capsys.readouterr().out
    assert state_of(Address.get().id).bounce_count == 1


def test_the_phase_follows_the_status_through_any_sequence_of_events(db) -> None:
    """The recipient keyset indexes lead with the phase (sent and delivered are one): after any sequence
    of events each recipient's phase is its status's, and every filter of the recipients screen, in every
    sort, lists exactly the recipients whose status it names."""
    import random

    from models.queries import RECIPIENT_FILTERS, fetch_page, recipient_filter
    from models.schema import RECIPIENT_SORTS, phase_of

    rng = random.Random(7)
    acc = f.account()
    people = [f.person(acc, f"p{i}@example.com", name=f"P{i:02d} Person") for i in range(12)]
    m = f.mailing(acc, "m1", people)
    kinds = [
        dict(kind="delivered", reason="delivered", status="2.0.0"),
        dict(kind="open", reason="", status=""),
        dict(kind="bounce", reason="mailboxfull", status="4.2.2"),
        dict(kind="bounce", reason="userunknown", status="5.1.1"),
        dict(kind="delay", reason="onhold", status="4.4.1"),
        dict(kind="complaint", reason="feedback", status="", feedback_type="abuse"),
    ]
    seen_statuses = set()
    for _round in range(40):
        batch = [ev(rng.choice(people).email, **rng.choice(kinds)) for _ in range(rng.randint(1, 6))]
        record_events(batch)
        rows = list(Recipient.select(Recipient.id, Recipient.status, Recipient.phase))
        assert all(r.phase == phase_of(r.status) for r in rows), [(r.status, r.phase) for r in rows]
        seen_statuses |= {r.status for r in rows}
        status_of = {r.id: r.status for r in rows}
        for name, (_label, statuses) in RECIPIENT_FILTERS.items():
            want = {rid for rid, s in status_of.items() if s in statuses}
            for sort in ("status", *RECIPIENT_SORTS):
                got = [r.id for r in fetch_page(recipient_filter(m.id, name), sort, limit=100)]
                assert len(got) == len(set(got)) and set(got) == want, (name, sort)
    assert seen_statuses >= {"delivered", "opened", "bounced", "complained"}
