"""Tiny builders for test data: accounts, persons with addresses, mailings."""

from __future__ import annotations

import datetime as dt

from models.addresses import domain_of, normalize_email
from models.schema import Account, Address, Company, Consent, Mailing, Person, Recipient

T0 = dt.datetime(2026, 11, 1, 9, 0, 0)


def account(name: str = "acme") -> Account:
    return Account.create(name=name)


def person(acc: Account, email: str, *, name: str = "Ada Lovelace", company: str | None = "Analytical Ltd",
           consent: str | None = "granted", former: bool = False) -> Address:
    comp = Company.create(account=acc, name=company, domain=domain_of(email)) if company else None
    first, _, last = name.partition(" ")
    p = Person.create(account=acc, company=comp, first_name=first, last_name=last, full_name=name,
                      former_employee=former)
    if consent:
        Consent.create(person=p, state=consent, source="test")
    em = normalize_email(email)
    return Address.create(account=acc, person=p, email=em, domain=domain_of(em))


def mailing(acc: Account, code: str, addresses: list[Address], *, sent_at: dt.datetime = T0) -> Mailing:
    m = Mailing.create(account=acc, code=code, name=f"Mailing {code}", subject="Hello", sent_at=sent_at)
    for a in addresses:
        p = a.person
        Recipient.create(
            mailing=m, address=a, person=p, email=a.email, domain=a.domain,
            name=p.full_name if p else "", company=p.company.name if p and p.company else "",
            status="sent", token=f"{code}-{a.id}", message_id=f"<{code}.{a.id}@mail.example.com>", sent_at=sent_at,
        )
    return m
