"""CRM data: persons (with company, addresses, consent), mailings and recipients.

The importer (``ingest/csvimport.py``) reads and validates a file and hands
clean rows here in batches; each ``upsert_*`` call writes one batch in one
transaction with a handful of set-based statements (insert ... on conflict),
so loading a million recipients is a few thousand statements, not a million.

Rows carry their file line so that a row refused here (an unknown mailing, a
VERP token already used by another recipient) is reported where it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from peewee import EXCLUDED, JOIN, PostgresqlDatabase

from models.addresses import domain_of
from models.db import database, driver_sql, retry_on_conflict
from models.schema import Account, Address, Company, Consent, Mailing, Person, Recipient, utcnow

#: Rows per IN (...) list, far below SQLite's bound-parameter limit.
_CHUNK = 500


@dataclass(slots=True)
class PersonRow:
    line: int
    account: str
    external_id: str | None = None
    first_name: str = ""
    last_name: str = ""
    full_name: str = ""
    company: str = ""
    emails: list[str] = field(default_factory=list)  # normalised, valid
    consent: str | None = None  # granted | revoked | None (leave as is)
    consent_source: str = ""
    consent_at: dt.datetime | None = None


@dataclass(slots=True)
class MailingRow:
    line: int
    account: str
    code: str
    name: str = ""
    subject: str = ""
    sent_at: dt.datetime | None = None


@dataclass(slots=True)
class RecipientRow:
    line: int
    mailing_code: str
    email: str  # normalised, valid
    external_id: str | None = None
    name: str = ""
    company: str = ""
    token: str | None = None
    message_id: str | None = None
    sent_at: dt.datetime | None = None


@dataclass(slots=True)
class ImportResult:
    """What a batch did; ``errors`` are ``(line, message)`` for rows not imported."""

    created: int = 0
    updated: int = 0
    addresses: int = 0  # addresses created
    companies: int = 0
    consent_changed: int = 0
    consent_kept_revoked: int = 0  # CSV said granted, a complaint or opt-out had revoked it
    errors: list[tuple[int, str]] = field(default_factory=list)
    #: ``(line, message)`` for rows imported with a consequence the operator must hear of: an account
    #: created by its name (a typo makes a new one), an address moved to another person.
    notes: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.addresses += other.addresses
        self.companies += other.companies
        self.consent_changed += other.consent_changed
        self.consent_kept_revoked += other.consent_kept_revoked
        self.errors.extend(other.errors)
        self.notes.extend(other.notes)


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _atomic():
    """A write transaction; SQLite takes the write lock up front so it waits instead of failing mid-batch."""
    if isinstance(database.obj, PostgresqlDatabase):
        return database.atomic()
    return database.atomic(lock_type="IMMEDIATE")


def account_ids(names: Iterable[str], created: list[str] | None = None) -> dict[str, int]:
    """Ids of the named accounts, creating the missing ones.

    ``created`` gets the names of those created beside existing accounts (a
    typo then makes a new account); a database's first accounts are expected.
    """
    wanted = sorted({n for n in names if n})
    found = {a.name: a.id for a in Account.select(Account.id, Account.name).where(Account.name.in_(wanted))}
    missing = [n for n in wanted if n not in found]
    if missing:
        if created is not None and Account.select().exists():
            created.extend(missing)
        Account.insert_many([{"name": n} for n in missing]).on_conflict_ignore().execute()
        found.update({a.name: a.id for a in Account.select(Account.id, Account.name).where(Account.name.in_(missing))})
    return found


def _created_notes(created: list[str], rows: Sequence[PersonRow | MailingRow]) -> list[tuple[int, str]]:
    """One note per account created by name, at the first row naming it."""
    first: dict[str, int] = {}
    for r in rows:
        first.setdefault(r.account, r.line)
    return [(first[name], f"account {name!r} did not exist: created (check the name if that was not meant)")
            for name in created]


def _company_ids(pairs: set[tuple[int, str]]) -> tuple[dict[tuple[int, str], int], int]:
    """Ids of (account, company name), creating the missing ones; also how many were created."""
    found: dict[tuple[int, str], int] = {}
    names = sorted({n for _, n in pairs})
    accounts = sorted({a for a, _ in pairs})
    for part in _chunks(names):
        for c in Company.select(Company.id, Company.account, Company.name).where(
                Company.account.in_(accounts), Company.name.in_(list(part))):
            found.setdefault((c.account_id, c.name), c.id)
    missing = sorted(p for p in pairs if p not in found)
    if missing:
        Company.insert_many([{"account": a, "name": n} for a, n in missing]).execute()
        for part in _chunks([n for _, n in missing]):
            for c in Company.select(Company.id, Company.account, Company.name).where(
                    Company.account.in_(accounts), Company.name.in_(list(part))):
                found.setdefault((c.account_id, c.name), c.id)
    return found, len(missing)


def _upsert_addresses(rows: dict[tuple[int, str], int | None],
                      moved: list[tuple[tuple[int, str], int, int]] | None = None
                      ) -> tuple[dict[tuple[int, str], int], int]:
    """Insert or attach addresses ``(account, email) -> person``; returns their ids and how many were new.

    A known address keeps its state (blocked, bounce count); only its person
    is set when the file names one, because the CRM is the truth about who
    owns an address but bouncedesk is the truth about whether it works.  An
    address taken from another person is added to ``moved`` as (key, old
    person, new person), so the import can say so.
    """
    keys = sorted(rows)
    owners: dict[tuple[int, str], int | None] = {}
    ids = _address_ids(keys, owners)
    if moved is not None:
        moved.extend((k, owners[k], rows[k]) for k in keys  # type: ignore[misc]
                     if k in ids and rows[k] is not None and owners[k] is not None and owners[k] != rows[k])
    new = [k for k in keys if k not in ids]
    if new:
        Address.insert_many([
            {"account": a, "email": e, "domain": domain_of(e), "person": rows[(a, e)]} for a, e in new
        ]).on_conflict_ignore().execute()
    # in address-id order, the order every writer locks addresses in (fewer deadlocks)
    attach = sorted(((rows[k], ids[k]) for k in keys if k in ids and rows[k] is not None), key=lambda r: r[1])
    if attach:
        cursor = database.cursor()
        cursor.executemany(driver_sql("UPDATE address SET person_id = ? WHERE id = ?"), attach)
    if new:
        ids.update(_address_ids(new))
    return ids, len(new)


def _address_ids(keys: Sequence[tuple[int, str]],
                 owners: dict[tuple[int, str], int | None] | None = None) -> dict[tuple[int, str], int]:
    """Ids of the known addresses among ``keys``; their persons into ``owners`` when given."""
    out: dict[tuple[int, str], int] = {}
    accounts = sorted({a for a, _ in keys})
    wanted = set(keys)
    for part in _chunks(sorted({e for _, e in keys})):
        for a in Address.select(Address.id, Address.account, Address.email, Address.person).where(
                Address.account.in_(accounts), Address.email.in_(list(part))):
            if (a.account_id, a.email) in wanted:
                out[(a.account_id, a.email)] = a.id
                if owners is not None:
                    owners[(a.account_id, a.email)] = a.person_id
    return out


def _moved_notes(moved: list[tuple[tuple[int, str], int, int]], line_of: dict[tuple[int, str], int]
                 ) -> list[tuple[int, str]]:
    """One note per address the file took from another person, naming both (their CRM ids where known)."""
    if not moved:
        return []
    pids = sorted({pid for _, old, new in moved for pid in (old, new)})
    named = {p.id: (f"{p.external_id!r}" if p.external_id else f"{p.full_name!r} (#{p.id})")
             for p in Person.select(Person.id, Person.external_id, Person.full_name).where(Person.id.in_(pids))}
    return [(line_of[key], f"address {key[1]} moved from person {named.get(old, old)} to {named.get(new, new)}")
            for key, old, new in moved]


@retry_on_conflict
def upsert_persons(rows: Sequence[PersonRow]) -> ImportResult:
    """Insert or update persons with their company, addresses and consent, in one transaction.

    Persons are matched on (account, external id); rows without an external
    id on their first address.  Consent from the file is applied except that
    ``granted`` never overrides a revocation already stored: a spam complaint
    or an opt-out must not be undone by re-importing an old CRM export.
    """
    result = ImportResult()
    if not rows:
        return result
    with _atomic():
        created: list[str] = []
        accounts = account_ids((r.account for r in rows), created)
        result.notes.extend(_created_notes(created, rows))
        companies, result.companies = _company_ids({(accounts[r.account], r.company) for r in rows if r.company})
        # last row wins for the same person in one batch
        keyed: dict[tuple[int, str], PersonRow] = {}
        loose: list[PersonRow] = []
        for r in rows:
            if r.external_id:
                keyed[(accounts[r.account], r.external_id)] = r
            else:
                loose.append(r)
        loose_pid: dict[int, int] = {}  # id(row) -> person id, for rows without an external id
        keyed_pid: dict[tuple[int, str], int] = {}

        if keyed:
            existing = _person_ids(list(keyed))
            result.updated += len(existing)
            result.created += len(keyed) - len(existing)
            now = utcnow()
            Person.insert_many([
                {"account": a, "external_id": x, "first_name": r.first_name, "last_name": r.last_name,
                 "full_name": r.full_name, "company": companies.get((a, r.company)), "created_at": now}
                for (a, x), r in keyed.items()
            ]).on_conflict(
                conflict_target=[Person.account, Person.external_id],
                update={Person.first_name: EXCLUDED.first_name, Person.last_name: EXCLUDED.last_name,
                        Person.full_name: EXCLUDED.full_name, Person.company: EXCLUDED.company_id},
            ).execute()
            keyed_pid = _person_ids(list(keyed))
        if loose:
            # rare in CRM exports: matched through the first address, written row by row
            owners = _address_owners([(accounts[r.account], r.emails[0]) for r in loose if r.emails])
            for r in loose:
                a = accounts[r.account]
                pid = owners.get((a, r.emails[0])) if r.emails else None
                values = {"first_name": r.first_name, "last_name": r.last_name, "full_name": r.full_name,
                          "company": companies.get((a, r.company))}
                if pid is None:
                    pid = Person.insert(account=a, **values).execute()
                    result.created += 1
                else:
                    Person.update(**values).where(Person.id == pid).execute()
                    result.updated += 1
                if r.emails:
                    owners[(a, r.emails[0])] = pid
                loose_pid[id(r)] = pid

        def pid_of(r: PersonRow) -> int:
            if r.external_id:
                return keyed_pid[(accounts[r.account], r.external_id)]
            return loose_pid[id(r)]

        addr_rows: dict[tuple[int, str], int] = {}
        claimed: dict[tuple[int, str], PersonRow] = {}
        for r in rows:
            for email in r.emails:
                key = (accounts[r.account], email)
                earlier = claimed.get(key)
                if earlier is not None and addr_rows[key] != pid_of(r):  # the last row wins, as across batches
                    result.notes.append((r.line, f"address {email} is also given to person {_row_person(earlier)} "
                                                 f"on line {earlier.line}: it goes to {_row_person(r)}"))
                addr_rows[key] = pid_of(r)
                claimed[key] = r
        if addr_rows:
            moved: list[tuple[tuple[int, str], int, int]] = []
            _, result.addresses = _upsert_addresses(addr_rows, moved)
            line_of = {(accounts[r.account], email): r.line for r in rows for email in r.emails}
            result.notes.extend(_moved_notes(moved, line_of))
        # the last row about a person decides its consent
        consent = {pid_of(r): r for r in rows if r.consent is not None}
        _apply_consent(consent, result)
    return result


def _row_person(r: PersonRow) -> str:
    """A person of the file as a note names it: the CRM id, else the name."""
    return repr(r.external_id) if r.external_id else repr(r.full_name or "(no name)")


def _person_ids(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = {}
    accounts = sorted({a for a, _ in keys})
    wanted = set(keys)
    for part in _chunks(sorted({x for _, x in keys})):
        for p in Person.select(Person.id, Person.account, Person.external_id).where(
                Person.account.in_(accounts), Person.external_id.in_(list(part))):
            if (p.account_id, p.external_id) in wanted:
                out[(p.account_id, p.external_id)] = p.id
    return out


def _address_owners(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = {}
    accounts = sorted({a for a, _ in keys})
    wanted = set(keys)
    for part in _chunks(sorted({e for _, e in keys})):
        for a in Address.select(Address.account, Address.email, Address.person).where(
                Address.account.in_(accounts), Address.email.in_(list(part)), Address.person.is_null(False)):
            if (a.account_id, a.email) in wanted:
                out[(a.account_id, a.email)] = a.person_id
    return out


def _apply_consent(wanted: dict[int, PersonRow], result: ImportResult) -> None:
    """Set consent from the file; never re-grant a stored revocation."""
    if not wanted:
        return
    current: dict[int, str] = {}
    for part in _chunks(sorted(wanted)):
        for c in Consent.select(Consent.person, Consent.state).where(Consent.person.in_(list(part))):
            current[c.person_id] = c.state
    now = utcnow()
    changes = []
    for pid, r in wanted.items():
        state = r.consent
        if current.get(pid) == state:
            continue
        if current.get(pid) == "revoked" and state == "granted":
            result.consent_kept_revoked += 1
            continue
        changes.append({"person": pid, "state": state, "source": r.consent_source or "import",
                        "changed_at": r.consent_at or now})
    if changes:
        Consent.insert_many(changes).on_conflict(
            conflict_target=[Consent.person],
            update={Consent.state: EXCLUDED.state, Consent.source: EXCLUDED.source,
                    Consent.changed_at: EXCLUDED.changed_at},
        ).execute()
    result.consent_changed += len(changes)


@retry_on_conflict
def upsert_mailings(rows: Sequence[MailingRow]) -> ImportResult:
    """Insert or update mailings by code (the mailing-id header value), in one transaction.

    An existing mailing keeps its account: a code names one mailing for good.
    """
    result = ImportResult()
    if not rows:
        return result
    with _atomic():
        created: list[str] = []
        accounts = account_ids((r.account for r in rows), created)
        result.notes.extend(_created_notes(created, rows))
        by_code = {r.code: r for r in rows}
        existing = {m.code for m in Mailing.select(Mailing.code).where(Mailing.code.in_(list(by_code)))}
        result.updated = len(existing)
        result.created = len(by_code) - len(existing)
        Mailing.insert_many([
            {"account": accounts[r.account], "code": r.code, "name": r.name or r.code, "subject": r.subject,
             "sent_at": r.sent_at}
            for r in by_code.values()
        ]).on_conflict(
            conflict_target=[Mailing.code],
            update={Mailing.name: EXCLUDED.name, Mailing.subject: EXCLUDED.subject,
                    Mailing.sent_at: EXCLUDED.sent_at},
        ).execute()
    return result


@retry_on_conflict
def upsert_recipients(rows: Sequence[RecipientRow]) -> ImportResult:
    """Record who was sent which mailing, in one transaction.

    The address is created in the mailing's account if new; the person comes
    from the row's external id, else from the address.  Name and company are
    copied onto the recipient (the screens sort by them without joins).  A
    row naming an unknown mailing, or a VERP token another recipient already
    has, is refused with its line.
    """
    result = ImportResult()
    if not rows:
        return result
    with _atomic():
        codes = sorted({r.mailing_code for r in rows})
        mailings = {m.code: (m.id, m.account_id, m.sent_at)
                    for m in Mailing.select(Mailing.id, Mailing.code, Mailing.account, Mailing.sent_at)
                    .where(Mailing.code.in_(codes))}
        good: dict[tuple[int, str], RecipientRow] = {}
        for r in rows:
            if r.mailing_code not in mailings:
                result.errors.append((r.line, f"unknown mailing {r.mailing_code!r} (import the mailings first)"))
                continue
            mid, acc, _ = mailings[r.mailing_code]
            good[(mid, r.email)] = r  # last row wins
        if not good:
            return result
        account_of = {mid: acc for mid, acc, _ in mailings.values()}
        sent_of = {mid: sent for mid, _, sent in mailings.values()}

        # tokens must stay unique: refuse a token that belongs to another recipient
        tokens: dict[str, tuple[int, str]] = {}
        for key, r in list(good.items()):
            if r.token:
                if r.token in tokens and tokens[r.token] != key:
                    result.errors.append((r.line, f"token {r.token!r} repeats line {good[tokens[r.token]].line}"))
                    del good[key]
                    continue
                tokens[r.token] = key
        # persons named by external id
        ext = sorted({(account_of[mid], r.external_id) for (mid, _), r in good.items() if r.external_id})
        persons = _person_ids(ext) if ext else {}
        addr_rows: dict[tuple[int, str], int | None] = {}
        for (mid, email), r in good.items():
            key = (account_of[mid], email)
            pid = persons.get((account_of[mid], r.external_id)) if r.external_id else None
            if pid is not None or key not in addr_rows:
                addr_rows[key] = pid
        moved: list[tuple[tuple[int, str], int, int]] = []
        addr_ids, result.addresses = _upsert_addresses(addr_rows, moved)
        result.notes.extend(_moved_notes(moved, {(account_of[mid], email): r.line for (mid, email), r in good.items()}))
        owners = _owners_with_names(sorted(set(addr_ids.values())))

        if tokens:
            for part in _chunks(sorted(tokens)):
                for rec in Recipient.select(Recipient.token, Recipient.mailing, Recipient.address).where(
                        Recipient.token.in_(list(part))):
                    key = tokens[rec.token]
                    if key in good and (rec.mailing_id, addr_ids[(account_of[key[0]], key[1])]) != (
                            key[0], rec.address_id):
                        result.errors.append((good[key].line, f"token {rec.token!r} already belongs to another recipient"))
                        del good[key]

        existing = set()
        pairs = [(mid, addr_ids[(account_of[mid], email)]) for mid, email in good]
        for mid in sorted({m for m, _ in pairs}):
            aids = [a for m, a in pairs if m == mid]
            for part in _chunks(aids):
                existing.update((mid, r.address_id) for r in Recipient.select(Recipient.address).where(
                    Recipient.mailing == mid, Recipient.address.in_(list(part))))
        values = []
        for (mid, email), r in good.items():
            aid = addr_ids[(account_of[mid], email)]
            pid, pname, pcompany = owners.get(aid, (None, "", ""))
            values.append({
                "mailing": mid, "address": aid, "person": pid, "email": email, "domain": domain_of(email),
                "name": pname or r.name, "company": pcompany or r.company, "token": r.token,
                "message_id": r.message_id, "sent_at": r.sent_at or sent_of[mid],
            })
            if (mid, aid) in existing:
                result.updated += 1
            else:
                result.created += 1
        for part in _chunks(values, 1000):
            Recipient.insert_many(part).on_conflict(
                conflict_target=[Recipient.mailing, Recipient.address],
                update={Recipient.person: EXCLUDED.person_id, Recipient.name: EXCLUDED.name,
                        Recipient.company: EXCLUDED.company, Recipient.token: EXCLUDED.token,
                        Recipient.message_id: EXCLUDED.message_id, Recipient.sent_at: EXCLUDED.sent_at},
            ).execute()
    return result


def _owners_with_names(address_ids: Sequence[int]) -> dict[int, tuple[int, str, str]]:
    """address id -> (person id, person's full name, company name) for addresses that have a person."""
    out: dict[int, tuple[int, str, str]] = {}
    for part in _chunks(list(address_ids)):
        query = (Address.select(Address.id, Person.id, Person.full_name, Person.first_name, Person.last_name,
                                Company.name)
                 .join(Person).join(Company, JOIN.LEFT_OUTER)
                 .where(Address.id.in_(list(part))).tuples())
        for aid, pid, full, first, last, company in query:
            out[aid] = (pid, full or f"{first} {last}".strip(), company or "")
    return out
