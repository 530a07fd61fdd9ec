"""A deterministic, realistic demo database, built through the real rules.

Accounts, companies with real-looking domains, persons with consent,
addresses, mailings and their recipients are inserted directly; everything
that happens *after* sending (deliveries, opens, delays, bounces, complaints)
is fed through ``models.events.record_events``, so blocks, counts, global
bounces, revoked consent and the audit log are exactly what the rules make
of that history.  Bounce texts come from ``BounceTemplate`` values: the
command builds them by parsing the shared corpus of real returned mail, and
falls back to ``BUILTIN_TEMPLATES`` when no corpus is at hand.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.addresses import domain_of, normalize_email
from models.db import database
from models.events import EventIn, RecordResult, dedupe_key, record_events, sweep_pending
from models.schema import Account, Address, Company, Consent, Mailing, Person, Recipient, utcnow


@dataclass(frozen=True, slots=True)
class BounceTemplate:
    """What a returned message said about one recipient, minus the address."""

    kind: str  # bounce | delay | complaint
    reason: str
    smtp_status: str = ""
    reply: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    feedback_type: str | None = None
    gave_up: bool = False


BUILTIN_TEMPLATES: tuple[BounceTemplate, ...] = (
    BounceTemplate("bounce", "userunknown", "5.1.1", "550",
                   "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking "
                   "the recipient's email address for typos or unnecessary spaces.", "gmail-smtp-in.l.google.com"),
    BounceTemplate("bounce", "userunknown", "5.1.1", "550", "550 5.1.1 <{email}>: Recipient address rejected: "
                   "User unknown in virtual mailbox table", "mx1.{domain}"),
    BounceTemplate("bounce", "userunknown", "5.1.1", "550",
                   "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "{domain}.mail.protection.outlook.com"),
    BounceTemplate("bounce", "hostunknown", "5.1.2", "", "Host or domain name not found. Name service error for "
                   "name={domain} type=A: Host not found"),
    BounceTemplate("bounce", "mailboxfull", "5.2.2", "552", "552 5.2.2 Mailbox full: quota exceeded", "mx.{domain}"),
    BounceTemplate("bounce", "mailboxfull", "4.2.2", "452",
                   "452 4.2.2 The recipient's inbox is out of storage space.", "gmail-smtp-in.l.google.com"),
    BounceTemplate("bounce", "filtered", "5.7.1", "550", "550 5.7.1 Delivery not authorized, message refused",
                   "mx.{domain}"),
    BounceTemplate("bounce", "spamdetected", "5.7.1", "554",
                   "554 5.7.1 [P4] Message blocked due to spam content in the message.", "mta7.am0.yahoodns.net"),
    BounceTemplate("bounce", "blocked", "5.7.1", "554", "554 5.7.1 Service unavailable; Client host [203.0.113.9] "
                   "blocked using zen.spamhaus.org [/]", "mx.{domain}"),
    BounceTemplate("bounce", "authfailure", "5.7.26", "550", "550 5.7.26 Unauthenticated email from "
                   "news.example.com is not accepted due to domain's DMARC policy.", "gmail-smtp-in.l.google.com"),
    BounceTemplate("bounce", "suspend", "5.2.1", "550", "550 5.2.1 The email account that you tried to reach is "
                   "disabled.", "gmail-smtp-in.l.google.com"),
    BounceTemplate("bounce", "expired", "4.4.7", "", "delivery temporarily suspended: connect to mx.{domain}"
                   "[198.51.100.7]:25: Connection timed out", gave_up=True),
    BounceTemplate("bounce", "toomanyconn", "4.7.0", "421", "421 4.7.0 [TSS04] Messages from 203.0.113.9 "
                   "temporarily deferred due to unexpected volume", "mta5.am0.yahoodns.net"),
    BounceTemplate("bounce", "userunknown", "5.1.1", "550", "550 5.1.1 Postfach nicht verfügbar / mailbox "
                   "unavailable [link=http://x]y[/link]", "mx00.{domain}"),
    BounceTemplate("delay", "expired", "4.4.1", "", "connect to mx.{domain}[198.51.100.20]:25: Connection refused"),
    BounceTemplate("complaint", "feedback", feedback_type="abuse"),
)

_FIRST = ("Anna", "Lars", "Ingrid", "Jonas", "Marta", "Pieter", "Sofie", "Henrik", "Claire", "Mateo", "Yuki",
          "Olga", "Rafael", "Eva", "Tomasz", "Nora", "Sven", "Lucia", "Kenji", "Amara", "Felix", "Hanne", "Jan",
          "Elif", "Marius", "Camille", "Diego", "Greta", "Oskar", "Leila")
_LAST = ("Hansen", "Johansen", "de Vries", "Müller", "Dubois", "García", "Tanaka", "Nowak", "Berg", "Rossi",
         "Jansen", "Schmidt", "Lefèvre", "Martínez", "Sato", "Kowalski", "Nilsen", "Bianchi", "Larsen", "Moreau",
         "O'Brien", "Andersson", "Fischer", "Haugen", "Novak", "Silva", "Dahl", "Lindqvist", "Keller", "Bakker")
_COMPANY_WORDS = ("Nordlys", "Fjordline", "Bergkamp", "Solvang", "Havblikk", "Kvarts", "Lindholm", "Storhav",
                  "Blaaberg", "Eikeli", "Vestvind", "Tindra", "Rosendal", "Skogly", "Brattli", "Hvitsand")
_COMPANY_KINDS = (("Logistikk", "no"), ("Consulting", "com"), ("Bygg", "no"), ("Media", "se"),
                  ("Technik", "de"), ("Design", "nl"), ("Energi", "no"), ("Partners", "co.uk"))
_FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "online.no", "web.de", "gmx.net", "orange.fr")
_ACCOUNTS = ("Nordlys Media", "Fjordline Consulting", "Vestvind Energi")
_SUBJECTS = ("Autumn newsletter", "Invitation: customer day in Bergen", "New price list 2027",
             "Webinar: handling bounces well", "Christmas greetings", "Product update November")


def _slug(text: str) -> str:
    """ASCII letters and digits of ``text`` (accents dropped): a plausible local part or domain label."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded if ch.isalnum())


def build_demo(
    *,
    persons: int = 3000,
    seed: int = 7,
    templates: Sequence[BounceTemplate] = BUILTIN_TEMPLATES,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> RecordResult:
    """Fill an empty database with demo data; return what the rules did.

    Deterministic for a given ``persons``, ``seed`` and template list.  A few
    addresses appear in every account so that global bounces occur, and a
    few addresses bounce softly in every mailing so the soft limit is seen
    at work.
    """
    rng = random.Random(seed)
    now = now or utcnow()
    say = progress or (lambda _msg: None)
    bounces = [t for t in templates if t.kind == "bounce"] or [t for t in BUILTIN_TEMPLATES if t.kind == "bounce"]
    delays = [t for t in templates if t.kind == "delay"] or [t for t in BUILTIN_TEMPLATES if t.kind == "delay"]
    complaints = [t for t in templates if t.kind == "complaint"] or [BUILTIN_TEMPLATES[-1]]
    hard_ones = [t for t in bounces if t.reason in ("userunknown", "hostunknown") and t.smtp_status.startswith("5")]
    hard_ones = hard_ones or [BUILTIN_TEMPLATES[0]]
    soft_ones = [t for t in bounces if t.reason == "mailboxfull"] or [BUILTIN_TEMPLATES[4]]

    say("accounts, companies and persons")
    shared_emails = [f"{_slug(rng.choice(_FIRST))}.{_slug(rng.choice(_LAST))}{i}@{rng.choice(_FREEMAIL)}"
                     for i in range(6)]
    per_account = max(1, persons // len(_ACCOUNTS))
    account_addresses: dict[int, list[Address]] = {}
    with database.atomic():
        for a_index, account_name in enumerate(_ACCOUNTS):
            account = Account.create(name=account_name, created_at=now - dt.timedelta(days=400))
            companies = []
            for c in range(max(3, per_account // 25)):
                word = _COMPANY_WORDS[(c + a_index * 5) % len(_COMPANY_WORDS)]
                kind, tld = _COMPANY_KINDS[(c * 7 + a_index) % len(_COMPANY_KINDS)]
                suffix = "" if c < len(_COMPANY_WORDS) else str(c)
                companies.append(Company.create(account=account, name=f"{word} {kind}{suffix and ' ' + suffix}",
                                                domain=f"{_slug(word)}{_slug(kind)}{suffix}.{tld}"))
            addresses: list[Address] = []
            for p_index in range(per_account):
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                company = rng.choice(companies) if rng.random() < 0.8 else None
                if p_index < len(shared_emails):
                    email = shared_emails[p_index]
                elif company is not None:
                    email = f"{_slug(first)}.{_slug(last)}{p_index}@{company.domain}"
                else:
                    email = f"{_slug(first)}{_slug(last)}{p_index}@{rng.choice(_FREEMAIL)}"
                person = Person.create(account=account, company=company, first_name=first, last_name=last,
                                       full_name=f"{first} {last}", external_id=f"crm-{a_index}-{p_index}",
                                       former_employee=rng.random() < 0.01,
                                       created_at=now - dt.timedelta(days=rng.randint(30, 400)))
                if rng.random() < 0.97:
                    Consent.create(person=person, state="granted", source="newsletter signup",
                                   changed_at=person.created_at)
                email = normalize_email(email)
                addresses.append(Address.create(account=account, person=person, email=email,
                                                domain=domain_of(email), created_at=person.created_at))
            account_addresses[account.id] = addresses

    # An address that kept bouncing softly in earlier campaigns: the next soft
    # bounce in a demo mailing goes over the limit and blocks it.
    history = [EventIn(email=addresses[7].email, kind="bounce", reason=soft_ones[0].reason,
                       smtp_status=soft_ones[0].smtp_status, reply=soft_ones[0].reply,
                       diagnostic=soft_ones[0].diagnostic.replace("{domain}", addresses[7].domain),
                       dedupe_key=dedupe_key("demo-history", account_id, k), account_id=account_id,
                       occurred_at=now - dt.timedelta(days=200 - 20 * k), provider="demo", source="demo history")
               for account_id, addresses in account_addresses.items() if len(addresses) > 8 for k in range(5)]
    total = record_events(history, cause="demo data: earlier campaigns")
    for a_index, (account_id, addresses) in enumerate(account_addresses.items()):
        for m_index in range(2):
            sent_at = now - dt.timedelta(days=60 - 25 * m_index - a_index * 3, hours=a_index)
            subject = _SUBJECTS[(a_index * 2 + m_index) % len(_SUBJECTS)]
            code = f"demo-{a_index + 1}-{m_index + 1}"
            say(f"mailing {code}: {subject}")
            with database.atomic():
                mailing = Mailing.create(account=account_id, code=code, name=f"{subject} ({sent_at:%b %Y})",
                                         subject=subject, sent_at=sent_at, created_at=sent_at)
                persons_by_id = {p.id: p for p in Person.select().where(Person.account == account_id)}
                companies_by_id = {c.id: c.name for c in Company.select().where(Company.account == account_id)}
                rows = []
                for addr in addresses:
                    p = persons_by_id[addr.person_id]
                    rows.append({
                        "mailing": mailing.id, "address": addr.id, "person": p.id, "email": addr.email,
                        "domain": addr.domain, "name": p.full_name,
                        "company": companies_by_id.get(p.company_id, ""), "status": "sent",
                        "token": f"{code}-{addr.id}", "message_id": f"<{code}.{addr.id}@news.bouncedesk.example>",
                        "sent_at": sent_at,
                    })
                for i in range(0, len(rows), 500):
                    Recipient.insert_many(rows[i:i + 500]).execute()
            events: list[EventIn] = []
            for n, addr in enumerate(addresses):
                at = sent_at + dt.timedelta(minutes=rng.randint(1, 600))
                token = f"{code}-{addr.id}"
                key = dedupe_key("demo", code, addr.id)
                roll = rng.random()
                if n < len(shared_emails) and n < 2:
                    template = hard_ones[n % len(hard_ones)]  # bounces in every account: a global bounce
                elif n in (7, 8):
                    template = soft_ones[0]  # keeps bouncing softly
                elif roll < 0.025:
                    template = rng.choice(bounces)
                elif roll < 0.032:
                    template = rng.choice(delays)
                elif roll < 0.036:
                    template = rng.choice(complaints)
                else:
                    template = None
                if template is None:
                    events.append(EventIn(email=addr.email, kind="delivered", dedupe_key=key + "d",
                                          occurred_at=at, verp_token=token, provider="demo", source="demo"))
                    if rng.random() < 0.35:
                        events.append(EventIn(email=addr.email, kind="open", dedupe_key=key + "o",
                                              occurred_at=at + dt.timedelta(hours=rng.randint(1, 48)),
                                              verp_token=token, provider="demo", source="demo"))
                    continue
                fill = {"email": addr.email, "domain": addr.domain}
                events.append(EventIn(
                    email=addr.email, kind=template.kind, reason=template.reason, dedupe_key=key,
                    smtp_status=template.smtp_status, reply=template.reply,
                    diagnostic=template.diagnostic.replace("{email}", fill["email"]).replace("{domain}", fill["domain"]),
                    remote_mta=template.remote_mta.replace("{domain}", fill["domain"]),
                    feedback_type=template.feedback_type, gave_up=template.gave_up, occurred_at=at,
                    verp_token=token, provider="demo", source=f"demo mailing {code}",
                ))
            for i in range(0, len(events), 2000):
                total.add(record_events(events[i:i + 2000], cause=f"demo data for {code}"))
    say("pending sweep")
    total.add(sweep_pending(now=now))
    return total
