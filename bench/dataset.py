"""A big, deterministic, realistic bouncedesk database for benchmarks.

``build(addresses=1_000_000, recipients=1_000_000, seed=1)`` returns the path
of a SQLite database holding accounts, companies with real-looking domains,
persons, consents, addresses (some blocked, some globally), mailings, their
recipients in realistic status proportions and the complaint events behind
the complained ones.  The same parameters always give the same rows.

Why it is written the way it is:

* The schema comes from the project (``open_database`` runs the migrations),
  so benchmarks measure the real tables and indexes.  The secondary indexes
  are dropped during the load and re-created afterwards from the exact SQL the
  migration wrote: building an index once over sorted data is several times
  faster than maintaining it row by row, and the final file carries the same
  schema as a migrated database.
* Rows are written with the ``sqlite3`` module's ``executemany`` in large
  transactions (peewee's ``insert_many`` is ~8x slower here).
* A build takes tens of seconds at a million rows, so the result is cached in
  ``bench/.data/`` under a name made of the parameters and a fingerprint of the
  schema and of this generator; benchmarks that modify data ask for a copy
  (``build(path=...)``) so the cache stays pristine.

Run ``python bench/dataset.py [--addresses N] [--recipients N] [--seed S]`` to
build (or find) one and print its path.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sqlite3
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models.taxonomy import REASONS  # noqa: E402
from models.schema import phase_of  # noqa: E402

CACHE_DIR = ROOT / "bench" / ".data"
#: Bump when the generated content changes, so old cache files are not reused.
GENERATOR_VERSION = 3
BATCH = 50_000

ACCOUNTS = (
    "Northwind Agency", "Bluebird Retail", "Contoso Events", "Fabrikam Travel", "Lindqvist & Söhne",
)
FREEMAIL = (
    ("gmail.com", 30), ("outlook.com", 12), ("yahoo.com", 8), ("hotmail.com", 8), ("gmx.de", 7),
    ("web.de", 6), ("orange.fr", 5), ("icloud.com", 5), ("aol.com", 3), ("libero.it", 3),
    ("t-online.de", 4), ("free.fr", 3), ("seznam.cz", 2), ("wp.pl", 2), ("yandex.ru", 2),
)
FIRST = (
    "Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karin", "Lukas",
    "Maria", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tina", "Ulrich", "Vera", "Walter",
    "Xenia", "Yusuf", "Zoë", "Émile", "Łukasz", "Søren", "José", "Aoife", "Chloé", "Björn", "Mia",
    "Liam", "Olivia", "Emma", "Lucas", "Sofia", "Mateo", "Amelia", "Elias", "Hannah", "Leon", "Lea",
    "Marco", "Giulia", "Pierre", "Camille", "Jan", "Petra", "Tomás", "Ana", "Kenji", "Yuki", "Priya",
    "Arjun", "Fatima", "Omar", "Leila", "Chen", "Wei", "Nora", "Erik", "Ingrid", "Mikael", "Sara",
)
LAST = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
    "Schulz", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "O'Brien", "Kowalski", "Nowak", "Dubois", "Lefèvre", "Rossi", "Russo", "Bianchi",
    "Jensen", "Nielsen", "Hansen", "Andersson", "Johansson", "Karlsson", "de Vries", "van Dijk",
    "Novák", "Horváth", "Popescu", "Ivanov", "Tanaka", "Suzuki", "Kim", "Lee", "Park", "Nguyen",
    "Singh", "Patel", "Khan", "Ali", "Haddad", "Cohen", "Levi", "Silva", "Santos", "Ferreira",
)
COMPANY_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent",
    "Vandelay", "Hooli", "Pied", "Aperture", "Black Mesa", "Monarch", "Oscorp", "Nakatomi", "Gringotts",
    "Nordlicht", "Alpen", "Rhein", "Baltic", "Atlas", "Helios", "Orion", "Polaris", "Vega", "Zenith",
    "Blue Fjord", "Red Oak", "Silver Birch", "Green Valley", "Iron Gate", "Stone Bridge", "Sun Harbor",
)
COMPANY_B = (
    "Logistics", "Consulting", "Software", "Systems", "Foods", "Pharma", "Engineering", "Media",
    "Textiles", "Energy", "Robotics", "Analytics", "Insurance", "Bank", "Travel", "Furniture",
    "Motors", "Labs", "Design", "Solutions", "Trading", "Bau", "Druck", "Verlag", "Partners",
)
COMPANY_FORM = ("GmbH", "AG", "Ltd", "Inc.", "SA", "S.r.l.", "BV", "AB", "Oy", "& Co. KG", "LLC", "")
TLDS = (("com", 30), ("de", 25), ("co.uk", 8), ("fr", 7), ("nl", 5), ("it", 5), ("se", 4), ("ch", 4),
        ("at", 4), ("io", 3), ("eu", 3), ("pl", 2))
CONSENT_SOURCES = ("signup form", "trade fair 2023", "CRM import", "webinar registration", "shop checkout")
MAILING_NAMES = ("Newsletter", "Product update", "Spring sale", "Event invitation", "Webinar reminder",
                 "Customer survey", "Year in review", "Partner news")

#: Blocked-address reasons with weights and a (status, diagnostic) template.
BLOCK_REASONS = (
    ("userunknown", 55, "5.1.1", "550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table"),
    ("hostunknown", 10, "5.1.2", "550 5.1.2 Host unknown: no MX or A record for {domain}"),
    ("mailboxfull", 14, "4.2.2", "452 4.2.2 The email account that you tried to reach is over quota [{domain}]"),
    ("notaccept", 5, "5.1.10", "556 5.1.10 Recipient address has null MX"),
    ("suspend", 6, "5.2.1", "550 5.2.1 The email account that you tried to reach is disabled."),
    ("hasmoved", 3, "5.1.6", "550 5.1.6 Recipient no longer on server: {email}"),
    ("filtered", 7, "5.7.1", "550 5.7.1 Message rejected by recipient's filter rules [/]"),
)
#: Bounce reasons of recipients whose address is not blocked (mostly soft).
BOUNCE_REASONS = (
    ("mailboxfull", 25, "4.2.2", "452 4.2.2 <{email}>: Mailbox full"),
    ("spamdetected", 12, "5.7.1", "554 5.7.1 Message rejected as spam by Content Filtering [1.2.3.4]"),
    ("blocked", 10, "5.7.1", "554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org"),
    ("policyviolation", 6, "5.7.0", "550 5.7.0 Local policy violation"),
    ("authfailure", 5, "5.7.26", "550 5.7.26 Unauthenticated email from example.net is not accepted due to domain's DMARC policy"),
    ("systemerror", 8, "4.3.0", "451 4.3.0 Temporary system problem, try again later"),
    ("expired", 10, "4.4.7", "Delivery expired: message too old (4.4.7) [link=http://x]y[/link]"),
    ("networkerror", 6, "4.4.1", "421 4.4.1 Connection timed out to mx.{domain}"),
    ("userunknown", 12, "5.1.1", "550 5.1.1 The email account that you tried to reach does not exist."),
    ("mesgtoobig", 3, "5.3.4", "552 5.3.4 Message size exceeds fixed limit"),
    ("undefined", 3, "", "Undeliverable: see attached report"),
)
#: (status, weight) of a recipient of an address that is not blocked.
RECIPIENT_MIX = (("delivered", 5200), ("opened", 2800), ("sent", 950), ("pending", 150),
                 ("bounced", 420), ("complained", 30))

#: Share of addresses that are blocked (an old list: years of hard bounces add up).
BLOCKED_SHARE = 0.10
#: Chance that a blocked address is still among a mailing's recipients (the mailing
#: that blocked it); otherwise it was excluded, as eligibility requires.
BLOCKED_IN_MAILING = 0.35

EPOCH = 1_672_531_200  # 2023-01-01 00:00:00 UTC
SPAN = 2 * 365 * 86_400


def ts(seconds: int) -> str:
    """Peewee's SQLite text form of a naive UTC timestamp."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def _fingerprint() -> str:
    """Schema source + generator source: any change invalidates cached files."""
    h = hashlib.sha256()
    for name in ("models/schema.py", "models/migrations.py", "bench/dataset.py"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:12]


def cache_path(addresses: int, recipients: int, seed: int) -> Path:
    """Where the database for these parameters is cached."""
    return CACHE_DIR / f"bd-a{addresses}-r{recipients}-s{seed}-g{GENERATOR_VERSION}-{_fingerprint()}.db"


def build(
    path: str | os.PathLike[str] | None = None,
    addresses: int = 1_000_000,
    recipients: int = 1_000_000,
    seed: int = 1,
    *,
    verbose: bool = False,
) -> Path:
    """The benchmark database for these parameters, built once and cached.

    With ``path`` the cached file is copied there (for benchmarks that write)
    and ``path`` is returned; without, the cache file itself is returned and
    must be treated as read-only.
    """
    if addresses < 1 or recipients < 0:
        raise ValueError("addresses must be >= 1 and recipients >= 0")
    cached = cache_path(addresses, recipients, seed)
    if not cached.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        started = time.perf_counter()
        _generate(tmp, addresses, recipients, seed)
        os.replace(tmp, cached)
        if verbose:
            print(f"built {cached.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if path is None:
        return cached
    target = Path(path)
    for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(cached, target)
    return target


def _create_schema(path: Path) -> list[str]:
    """Create the migrated schema; drop and return the secondary indexes' SQL."""
    from models.db import database, open_database

    previous = database.obj
    db = open_database(f"sqlite:///{path}")
    db.close()
    if previous is not None:
        database.initialize(previous)
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
        for name, _sql in rows:
            con.execute(f'DROP INDEX "{name}"')
        con.commit()
    finally:
        con.close()
    return [sql for _name, sql in rows]


def _weighted(rng: random.Random, table: tuple, k: int, weight_at: int = 1) -> list:
    return rng.choices(table, weights=[row[weight_at] for row in table], k=k)


def _slug(text: str) -> str:
    out = []
    for ch in text.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch in "äöüß":
            out.append({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}[ch])
    return "".join(out)


_ASCII = str.maketrans({"é": "e", "è": "e", "ë": "e", "É": "e", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o",
                        "á": "a", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "í": "i", "ó": "o",
                        "å": "a", "'": "", " ": ""})


def _local(first: str, last: str, pattern: int) -> str:
    f, l_ = first.lower().translate(_ASCII), last.lower().translate(_ASCII)
    return (f"{f}.{l_}", f"{f[0]}.{l_}", f"{f}{l_}", f"{f}_{l_}", f"{l_}.{f}", f"{f[0]}{l_}")[pattern]


def _generate(path: Path, n_addresses: int, n_recipients: int, seed: int) -> None:
    index_sql = _create_schema(path)
    rng = random.Random(seed)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -200000")
    con.execute("PRAGMA foreign_keys = OFF")
    try:
        con.execute("BEGIN")
        state = _load_people(con, rng, n_addresses)
        _load_mailings(con, rng, n_recipients, state)
        # A complaint revokes the person's consent (taxonomy.md): keep the data consistent.
        con.execute(
            "UPDATE consent SET state = 'revoked', source = 'spam complaint', changed_at = ("
            " SELECT max(e.occurred_at) FROM event e WHERE e.person_id = consent.person_id AND e.kind = 'complaint')"
            " WHERE person_id IN (SELECT person_id FROM event WHERE kind = 'complaint')")
        con.execute("COMMIT")
        for sql in index_sql:
            con.execute(sql)
        con.execute("ANALYZE")
        con.execute("PRAGMA journal_mode = WAL")
    finally:
        con.close()


def _executemany(con: sqlite3.Connection, sql: str, rows: Iterator[tuple]) -> int:
    """Insert ``rows`` in batches (bounded memory); return the count."""
    total = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            con.executemany(sql, batch)
            total += len(batch)
            batch.clear()
    if batch:
        con.executemany(sql, batch)
        total += len(batch)
    return total


class _People:
    """What the recipient generator needs to know about the loaded addresses."""

    def __init__(self, n_accounts: int) -> None:
        self.by_account: list[array] = [array("l") for _ in range(n_accounts)]
        self.blocked: dict[int, int] = {}  # address id -> index into BLOCK_REASONS
        self.email: list[str] = [""]
        self.domain: list[str] = [""]
        self.person: array = array("l", [0])
        self.name: list[str] = [""]
        self.company: list[str] = [""]


def _load_people(con: sqlite3.Connection, rng: random.Random, n: int) -> _People:
    n_acc = len(ACCOUNTS)
    con.executemany("INSERT INTO account (id, name, created_at) VALUES (?, ?, ?)",
                    [(i + 1, name, ts(EPOCH - 86_400 * (400 - 30 * i))) for i, name in enumerate(ACCOUNTS)])
    state = _People(n_acc)
    freemail = [d for d, _w in FREEMAIL]
    free_weights = [w for _d, w in FREEMAIL]
    tlds = [t for t, _w in TLDS]
    tld_weights = [w for _t, w in TLDS]
    used_domains: set[str] = set()

    companies: list[tuple] = []
    persons: list[tuple] = []
    consents: list[tuple] = []
    addrs: list[tuple] = []
    block_weights = [row[1] for row in BLOCK_REASONS]

    def flush(final: bool = False) -> None:
        if companies and (final or len(companies) >= BATCH // 10):
            con.executemany("INSERT INTO company (id, account_id, name, domain) VALUES (?, ?, ?, ?)", companies)
            companies.clear()
        if final or len(persons) >= BATCH:
            con.executemany(
                "INSERT INTO person (id, account_id, company_id, external_id, first_name, last_name, full_name,"
                " former_employee, former_employee_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", persons)
            con.executemany("INSERT INTO consent (id, person_id, state, source, changed_at) VALUES (?, ?, ?, ?, ?)",
                            consents)
            # each row: the address (0-4, 12-19) and its bounce state (5-11), which has a row of
            # its own only when it is not the default (blocked, counting or global)
            con.executemany(
                "INSERT INTO address (id, account_id, person_id, email, domain, last_event_at,"
                " last_kind, last_reason, last_category, last_severity, last_status, last_diagnostic, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r[:5] + r[12:] for r in addrs])
            con.executemany(
                "INSERT INTO address_state (id, account_id, email, domain, status, bounce_count, blocked_reason,"
                " blocked_category, blocked_at, blocked_cause, global_block) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], r[3], r[4], *r[5:12]) for r in addrs if r[5] != "active" or r[6] or r[11]])
            persons.clear()
            consents.clear()
            addrs.clear()

    work_share = int(n * 0.7)  # 70% work addresses at company domains, the rest freemail
    pid = 0
    cid = 0
    consent_id = 0
    while pid < n:
        if pid < work_share:
            cid += 1
            account = (cid - 1) % n_acc + 1
            name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
            form = rng.choice(COMPANY_FORM)
            base = _slug(name)
            domain = f"{base}.{rng.choices(tlds, tld_weights)[0]}"
            k = 2
            while domain in used_domains:
                domain = f"{base}{k}.{rng.choices(tlds, tld_weights)[0]}"
                k += 1
            used_domains.add(domain)
            company_name = f"{name} {form}".strip()
            companies.append((cid, account, company_name, domain))
            size = min(rng.randint(3, 45), work_share - pid)
            company_id: int | None = cid
            locals_seen: set[str] = set()
        else:
            size = min(BATCH, n - pid)
            company_id = None
            company_name = ""
        for _ in range(size):
            pid += 1
            if company_id is not None:
                acc = account
                first, last = rng.choice(FIRST), rng.choice(LAST)
                local = _local(first, last, rng.randrange(6))
                while local in locals_seen:
                    local = f"{local}{rng.randrange(2, 99)}"
                locals_seen.add(local)
                dom = domain
                former = rng.random() < 0.025
            else:
                acc = pid % n_acc + 1
                first, last = rng.choice(FIRST), rng.choice(LAST)
                local = f"{_local(first, last, rng.randrange(6))}{pid}"  # pid keeps freemail locals unique
                dom = rng.choices(freemail, free_weights)[0]
                former = False
            email = f"{local}@{dom}"
            created = EPOCH - rng.randrange(SPAN)
            full = f"{first} {last}"
            persons.append((pid, acc, company_id, f"CRM-{pid:07d}", first, last, full, int(former),
                            ts(created + SPAN) if former else None, ts(created)))
            r = rng.random()
            if r < 0.92:
                consent_id += 1
                consents.append((consent_id, pid, "granted", rng.choice(CONSENT_SOURCES), ts(created)))
            elif r < 0.95:
                consent_id += 1
                consents.append((consent_id, pid, "revoked", "unsubscribe link", ts(created + rng.randrange(SPAN))))
            # else: no consent row at all (never asked)
            aid = pid  # one address per person keeps ids aligned and lookups trivial
            if rng.random() < BLOCKED_SHARE:
                bi = rng.choices(range(len(BLOCK_REASONS)), block_weights)[0]
                reason, _w, status, diag = BLOCK_REASONS[bi]
                info = REASONS[reason]
                hard = info.hard_capable
                at = EPOCH + rng.randrange(SPAN)
                diagnostic = diag.format(email=email, domain=dom)
                glob = hard and rng.random() < 0.08
                cause = (f"hard bounce ({reason}) in mailing M{rng.randrange(1, 999):04d}" if hard
                         else f"6th consecutive soft bounce ({reason})")
                addrs.append((aid, acc, pid, email, dom, "blocked", 0 if hard else 6, reason, info.category,
                              ts(at), cause, int(glob), ts(at), "bounce", reason, info.category,
                              "hard" if hard else "soft", status, diagnostic, ts(created)))
                state.blocked[aid] = bi
            else:
                count = rng.choice((1, 1, 2, 3, 4)) if rng.random() < 0.03 else 0
                addrs.append((aid, acc, pid, email, dom, "active", count, None, None, None, None, 0,
                              None, None, None, None, None, None, None, ts(created)))
            state.by_account[acc - 1].append(aid)
            state.email.append(email)
            state.domain.append(dom)
            state.person.append(pid)
            state.name.append(full)
            state.company.append(company_name)
            flush()
    flush(final=True)
    return state


def _load_mailings(con: sqlite3.Connection, rng: random.Random, n_recipients: int, people: _People) -> None:
    n_acc = len(ACCOUNTS)
    mailings: list[tuple] = []
    plan: list[tuple[int, int, int, int]] = []  # (mailing id, account index, size, sent_at)
    remaining = n_recipients
    mid = 0
    while remaining > 0:
        mid += 1
        acc = (mid - 1) % n_acc
        pool = len(people.by_account[acc])
        if pool == 0:
            if all(len(p) == 0 for p in people.by_account):
                break
            continue
        size = min(remaining, pool, rng.randint(5_000, 40_000))
        sent = EPOCH + rng.randrange(SPAN)
        month = time.strftime("%B %Y", time.gmtime(sent))
        title = f"{rng.choice(MAILING_NAMES)} {month}"
        mailings.append((mid, acc + 1, f"M{mid:04d}-{seed_tag(rng)}", title, f"{title}: what's new", ts(sent), ts(sent)))
        plan.append((mid, acc, size, sent))
        remaining -= size
    con.executemany("INSERT INTO mailing (id, account_id, code, name, subject, sent_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", mailings)

    statuses = [s for s, _w in RECIPIENT_MIX]
    weights = [w for _s, w in RECIPIENT_MIX]
    bounce_weights = [row[1] for row in BOUNCE_REASONS]
    counter = {"rid": 0, "eid": 0}
    events: list[tuple] = []

    def rows() -> Iterator[tuple]:
        for mailing_id, acc, size, sent in plan:
            pool = people.by_account[acc]
            start = rng.randrange(len(pool))
            picked = rng.choices(statuses, weights, k=size)
            pos = start
            for k in range(size):
                aid = pool[pos % len(pool)]
                pos += 1
                # skip (exclude) a blocked address only while enough unused positions remain
                while (aid in people.blocked and rng.random() >= BLOCKED_IN_MAILING
                       and len(pool) - (pos - start) >= size - k):
                    aid = pool[pos % len(pool)]
                    pos += 1
                counter["rid"] += 1
                rid = counter["rid"]
                email, dom = people.email[aid], people.domain[aid]
                status = picked[k]
                severity = category = reason = blame = smtp = diagnostic = ""
                delivered = opened_at = None
                opened = 0
                last = sent + rng.randrange(60, 7_200)
                bi = people.blocked.get(aid)
                if bi is not None:
                    status = "bounced"
                    reason, _w, smtp, diag = BLOCK_REASONS[bi]
                    info = REASONS[reason]
                    severity = "hard" if info.hard_capable else "soft"
                    category, blame, diagnostic = info.category, info.blame, diag.format(email=email, domain=dom)
                elif status == "bounced":
                    reason, _w, smtp, diag = rng.choices(BOUNCE_REASONS, bounce_weights)[0]
                    info = REASONS[reason]
                    severity = "hard" if info.hard_capable and smtp.startswith("5") else "soft"
                    category, blame, diagnostic = info.category, info.blame, diag.format(email=email, domain=dom)
                elif status == "pending":
                    reason, category, severity, blame = "expired", "other", "pending", "recipient"
                    smtp, diagnostic = "4.4.7", "Delivery delayed: message is still queued for retry"
                elif status in ("delivered", "opened", "complained"):
                    delivered = last
                    if status != "delivered":
                        opened = 1
                        opened_at = last + rng.randrange(60, 172_800)
                        last = opened_at
                    if status == "complained":
                        category, blame, reason = "complaint", "recipient", "feedback"
                        last = last + rng.randrange(60, 86_400)
                        counter["eid"] += 1
                        events.append((counter["eid"], acc + 1, mailing_id, rid, aid, people.person[aid], email,
                                       "complaint", "feedback", "complaint", "", "recipient", "", "", "", "",
                                       "abuse",
                                       rng.choice(("mail", "ses", "sendgrid", "mailgun", "postmark")),
                                       f"arf:{mailing_id}:{rid}", f"bench-complaint-{rid}", ts(last), ts(last)))
                token = f"{rid:x}{rng.getrandbits(40):010x}"
                yield (rid, mailing_id, aid, people.person[aid], email, dom, people.name[aid], people.company[aid],
                       status, phase_of(status), opened, severity, category, reason, blame, smtp, diagnostic, token,
                       f"<{token}@mail.bouncedesk.example>", ts(sent), ts(delivered) if delivered else None,
                       ts(opened_at) if opened_at else None, ts(last) if status != "sent" else None)

    _executemany(con, "INSERT INTO recipient (id, mailing_id, address_id, person_id, email, domain, name, company,"
                 " status, phase, opened, severity, category, reason, blame, smtp_status, diagnostic, token,"
                 " message_id, sent_at, delivered_at, opened_at, last_event_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    con.executemany("INSERT INTO event (id, account_id, mailing_id, recipient_id, address_id, person_id, email, kind,"
                    " reason, category, severity, blame, smtp_status, reply, diagnostic, remote_mta, feedback_type,"
                    " provider, source, dedupe_key, occurred_at, recorded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)


def seed_tag(rng: random.Random) -> str:
    """A short random suffix making mailing codes look like real campaign ids."""
    return f"{rng.getrandbits(24):06x}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--copy-to", help="copy the cached database to this path")
    args = parser.parse_args(argv)
    print(build(args.copy_to, args.addresses, args.recipients, args.seed, verbose=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
