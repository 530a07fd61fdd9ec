"""A small deterministic database for screen, snapshot and query tests.

``seed_small(db)`` writes two accounts, a few mailings with recipients of
every status, blocked addresses (one of them globally blocked), spam
complaints with revoked consent, and one person whose name, company and
bounce diagnostic are full of text that Rich would read as markup.  Every
value, timestamp included, is fixed so that snapshots never change between
runs.  Rows are written directly (not through the event rules) because these
tests are about showing and paging data, not about deriving it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import Database

from models.address_state import set_state
from models.schema import (
    Account,
    Address,
    Company,
    Consent,
    Event,
    Mailing,
    Person,
    Recipient,
)

T0 = dt.datetime(2024, 5, 6, 9, 30, 0)

HOSTILE_NAME = "[link=http://x]y[/link]"
HOSTILE_COMPANY = "[bold]Evil[/bold] & Co"
HOSTILE_DIAGNOSTIC = "550 5.7.1 [1.2.3.4] blocked [/]"
HOSTILE_EMAIL = "[red]x[/red]@hostile.example"
#: The mailing of hostile texts: its name, and its recipients' names, companies and diagnostics.
HOSTILE_MAILING = "[/] Hostile [link=http://x]texts[/link]"
HOSTILE_TEXTS: tuple[tuple[str, str, str], ...] = (
    ("مرحبا [/] שלום עולם", "شركة [b]", "550 5.1.1 <مرحبا@example.com>: [/] unknown"),
    ("山田太郎 [bold]株式会社[/bold]", "株式会社テスト", "550 5.7.1 拒否されました [link=http://x]y[/link]"),
    ("Long " + "name " * 30 + "[/]", "Long company " * 6, "452 4.2.2 " + "mailbox full " * 20 + "[/]"),
    ("\\[escaped] \\", "[/i] & [#ff0000]", "550 [1.2.3.4] blocked [/]"),
)

FIRST = ("Anna", "Bernd", "Chloé", "David", "Eva", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Karla", "Luis", "Mona", "Nils", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara")
LAST = ("Adler", "Brandt", "Costa", "Dietz", "Engel", "Fuchs", "Graf", "Huber", "Iwanow", "Jung")
COMPANIES = (("Acme GmbH", "acme.example"), ("Globex AG", "globex.example"),
             ("Initech", "initech.example"), ("Umbrella SE", "umbrella.example"))

#: (status, severity, category, reason, blame, smtp status, diagnostic) cycled over recipients.
OUTCOMES: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("delivered", "", "", "", "", "", ""),
    ("opened", "", "", "", "", "", ""),
    ("sent", "", "", "", "", "", ""),
    ("bounced", "hard", "unknown_user", "userunknown", "recipient", "5.1.1", "550 5.1.1 user unknown"),
    ("opened", "", "", "", "", "", ""),
    ("bounced", "soft", "mailbox_full", "mailboxfull", "recipient", "4.2.2", "452 4.2.2 mailbox full"),
    ("pending", "pending", "other", "expired", "recipient", "4.4.1", "451 4.4.1 try again later"),
    ("delivered", "", "", "", "", "", ""),
    ("complained", "", "complaint", "feedback", "recipient", "", ""),
    ("bounced", "soft", "policy", "blocked", "sender", "5.7.1", "554 5.7.1 our IP is listed"),
)


def seed_small(db: Database) -> dict[str, Any]:
    """Fill the open, empty database ``db``; return the ids the tests refer to."""
    with db.atomic():
        acme = Account.create(name="Acme Newsletters", created_at=T0)
        beta = Account.create(name="Beta Shop", created_at=T0)
        companies = [Company.create(account=acme, name=n, domain=d) for n, d in COMPANIES]
        mailings = [
            Mailing.create(account=acme, code="acme-2024-05", name="May newsletter", subject="News in May",
                           sent_at=T0, created_at=T0),
            Mailing.create(account=acme, code="acme-2024-04", name="April offers", subject="[Offer] 50% off",
                           sent_at=T0 - dt.timedelta(days=30), created_at=T0),
            Mailing.create(account=acme, code="acme-draft", name="Draft (not sent)", subject="",
                           sent_at=None, created_at=T0),
            Mailing.create(account=beta, code="beta-2024-05", name="Beta spring sale", subject="Spring",
                           sent_at=T0 - dt.timedelta(days=3), created_at=T0),
        ]
        persons: list[Person] = []
        addresses: list[Address] = []
        for i in range(40):
            first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
            company = companies[i % len(companies)]
            p = Person.create(account=acme, company=company, external_id=f"P{i:03d}", first_name=first,
                              last_name=last, full_name=f"{first} {last}", created_at=T0)
            Consent.create(person=p, state="granted", source="signup form", changed_at=T0)
            email = f"{first.lower()}.{last.lower()}{i}@{company.domain}"
            a = Address.create(account=acme, person=p, email=email, domain=company.domain, created_at=T0)
            persons.append(p)
            addresses.append(a)
        hostile = Person.create(account=acme, company=None, external_id="HOSTILE", first_name="[b]",
                                last_name="[/]", full_name=HOSTILE_NAME, created_at=T0)
        Consent.create(person=hostile, state="granted", source="import [x]", changed_at=T0)
        hostile_addr = Address.create(account=acme, person=hostile, email=HOSTILE_EMAIL, domain="hostile.example",
                                      last_diagnostic=HOSTILE_DIAGNOSTIC,
                                      last_status="5.7.1", last_category="policy", last_severity="hard",
                                      last_event_at=T0 + dt.timedelta(minutes=5), created_at=T0)
        set_state(hostile_addr.id, status="blocked", bounce_count=1, blocked_reason="blocked",
                  blocked_category="policy", blocked_at=T0 + dt.timedelta(minutes=5), blocked_cause=HOSTILE_DIAGNOSTIC)
        persons.append(hostile)
        addresses.append(hostile_addr)

        recipients: dict[int, list[int]] = {}
        complaints: list[int] = []
        for m_index, mailing in enumerate(mailings[:2]):
            ids: list[int] = []
            for i, (p, a) in enumerate(zip(persons, addresses)):
                status, sev, cat, reason, blame, smtp, diag = OUTCOMES[(i + m_index) % len(OUTCOMES)]
                if p is hostile:
                    status, sev, cat, reason, blame, smtp, diag = (
                        "bounced", "hard", "policy", "blocked", "recipient", "5.7.1", HOSTILE_DIAGNOSTIC)
                at = mailing.sent_at + dt.timedelta(minutes=i) if status != "sent" else None
                r = Recipient.create(
                    mailing=mailing, address=a, person=p, email=a.email, domain=a.domain,
                    name=p.full_name, company=HOSTILE_COMPANY if p is hostile else p.company.name,
                    status=status, opened=status in ("opened", "complained"), severity=sev, category=cat,
                    reason=reason, blame=blame, smtp_status=smtp, diagnostic=diag,
                    token=f"{mailing.code}-{i}", sent_at=mailing.sent_at, last_event_at=at,
                )
                ids.append(r.id)
                if status in ("bounced", "complained", "pending"):
                    kind = {"bounced": "bounce", "complained": "complaint", "pending": "delay"}[status]
                    e = Event.create(
                        account=acme, mailing=mailing, recipient=r, address=a, person=p, email=a.email,
                        kind=kind, reason=reason, category=cat, severity=sev, blame=blame, smtp_status=smtp,
                        diagnostic=diag, feedback_type="abuse" if kind == "complaint" else None,
                        source=f"seed:{mailing.code}:{i}", dedupe_key=f"seed-{mailing.id}-{i}",
                        occurred_at=at, recorded_at=at,
                    )
                    if kind == "complaint":
                        complaints.append(e.id)
                        Consent.update(state="revoked", source="complaint", changed_at=at).where(
                            Consent.person == p).execute()
            recipients[mailing.id] = ids

        # a mailing whose every visible text would be markup, RTL, CJK or far too long
        hostile_mailing = Mailing.create(account=acme, code="acme-hostile", name=HOSTILE_MAILING,
                                         subject="[bold]Subject[/]", sent_at=T0 - dt.timedelta(days=60),
                                         created_at=T0)
        for i, (name, company, diag) in enumerate(HOSTILE_TEXTS):
            p = Person.create(account=acme, company=None, external_id=f"H{i}", full_name=name, created_at=T0)
            Consent.create(person=p, state="granted", source="import", changed_at=T0)
            a = Address.create(account=acme, person=p, email=f"hostile{i}@hostile.example", domain="hostile.example",
                               created_at=T0)
            Recipient.create(mailing=hostile_mailing, address=a, person=p, email=a.email, domain=a.domain,
                             name=name, company=company, status="bounced", severity="soft", category="other",
                             reason="[/]", blame="recipient", smtp_status="5.0.0", diagnostic=diag,
                             token=f"acme-hostile-{i}", sent_at=hostile_mailing.sent_at,
                             last_event_at=hostile_mailing.sent_at + dt.timedelta(minutes=i))

        # blocked addresses: every recipient-blame hard bounce of the May mailing, one global
        blocked: list[int] = [hostile_addr.id]
        for i, a in enumerate(addresses[:-1]):
            status, sev, _cat, reason, blame, _smtp, _diag = OUTCOMES[i % len(OUTCOMES)]
            if sev == "hard" and blame == "recipient":
                set_state(a.id, status="blocked", bounce_count=1, blocked_reason=reason,
                          blocked_category="unknown_user", blocked_at=T0 + dt.timedelta(minutes=i),
                          global_block=(i == 3))
                blocked.append(a.id)
        # the Beta account: a few addresses and one blocked with six soft bounces
        beta_ids: list[int] = []
        for i in range(5):
            p = Person.create(account=beta, full_name=f"Beta Customer {i}", external_id=f"B{i}", created_at=T0)
            Consent.create(person=p, state="granted", source="shop", changed_at=T0)
            a = Address.create(account=beta, person=p, email=f"customer{i}@shop.example", domain="shop.example",
                               created_at=T0)
            r = Recipient.create(mailing=mailings[3], address=a, person=p, email=a.email, domain=a.domain,
                                 name=p.full_name, company="", status="delivered" if i else "bounced",
                                 severity="" if i else "soft", category="" if i else "mailbox_full",
                                 reason="" if i else "mailboxfull", sent_at=mailings[3].sent_at,
                                 last_event_at=mailings[3].sent_at)
            beta_ids.append(a.id)
        set_state(beta_ids[0], status="blocked", bounce_count=6, blocked_reason="mailboxfull",
                  blocked_category="mailbox_full", blocked_at=T0 + dt.timedelta(days=1))
        blocked.append(beta_ids[0])
    return {
        "accounts": {"acme": acme.id, "beta": beta.id},
        "mailings": [m.id for m in mailings],
        "may": mailings[0].id,
        "hostile_mailing": hostile_mailing.id,
        "april": mailings[1].id,
        "recipients": recipients,
        "blocked": blocked,
        "complaints": complaints,
        "hostile_person": hostile.id,
        "hostile_address": hostile_addr.id,
    }
