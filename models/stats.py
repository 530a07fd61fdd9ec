"""Counts for summaries and the mailing overview."""

from __future__ import annotations

from peewee import fn

from models.schema import Account, Address, AddressState, Consent, Event, Mailing, Person, Recipient


def holds_data() -> bool:
    """True once any account exists: every other row hangs off an account, so this is the one check needed."""
    return Account.select().exists()


def database_summary() -> list[tuple[str, int]]:
    """A few headline counts, each one indexed query."""
    return [
        ("accounts", Account.select().count()),
        ("persons", Person.select().count()),
        ("addresses", Address.select().count()),
        ("blocked addresses", AddressState.select().where(AddressState.status == "blocked").count()),
        # one e-mail address blocked in every account counts once (as the demo and the ingest summary say)
        ("globally blocked e-mail addresses", AddressState.select(fn.COUNT(fn.DISTINCT(AddressState.email)))
         .where(AddressState.global_block).scalar() or 0),
        ("consents revoked", Consent.select().where(Consent.state == "revoked").count()),
        ("mailings", Mailing.select().count()),
        ("recipients", Recipient.select().count()),
        ("events", Event.select().count()),
        ("spam complaints", Event.select().where(Event.kind == "complaint").count()),
    ]


def mailing_counts(mailing_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Per mailing: recipients per status, plus the number opened.

    One grouped query over the ``(mailing, status, id)`` index.
    """
    q = Recipient.select(Recipient.mailing, Recipient.status, fn.COUNT(Recipient.id).alias("n"))
    if mailing_ids is not None:
        q = q.where(Recipient.mailing.in_(mailing_ids))
    out: dict[int, dict[str, int]] = {}
    for mailing_id, status, n in q.group_by(Recipient.mailing, Recipient.status).tuples():
        out.setdefault(mailing_id, {})[status] = n
    opened = Recipient.select(Recipient.mailing, fn.COUNT(Recipient.id)).where(Recipient.opened == True)  # noqa: E712
    if mailing_ids is not None:
        opened = opened.where(Recipient.mailing.in_(mailing_ids))
    for mailing_id, n in opened.group_by(Recipient.mailing).tuples():
        out.setdefault(mailing_id, {})["opened_any"] = n
    return out
