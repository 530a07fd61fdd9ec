"""Recording events: the one entry point through which every bounce, complaint
and provider event changes the database.

Ingest code (mail parser, provider importers, IMAP, Maildir) turns what it
reads into ``EventIn`` values and hands them to ``record_events`` in batches;
this module links each to its recipient, address, person and mailing, derives
category/severity/blame from ``models.taxonomy``, applies the address rules
(blocking, counting, global bounce, consent revocation) and writes the audit
log, all in one transaction per batch.  A batch either lands whole or not at
all, which is what makes ingestion crash safe; the unique ``dedupe_key``
makes it idempotent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import hashlib
import operator
from collections.abc import Iterable, Sequence

from peewee import PostgresqlDatabase

from models import audit
from models.address_state import lock_state_writers, write_states
from models.addresses import normalize_email
from models.db import database, driver_sql, retry_on_conflict, write_transaction
from models.schema import phase_of, utcnow
from models.settings import all_settings
from models.text import CHAR_MAX, LINE_BAD, TEXT_BAD, clean_line, clean_text
from models.taxonomy import classify


@dataclass(slots=True)
class EventIn:
    """One event for one recipient, as read from the outside world.

    ``kind`` and ``reason`` come from the parser; category, severity and blame
    are derived by the rules (``models.taxonomy.classify``) unless the source
    states them authoritatively (a provider's ``suppressed``).  Linking hints,
    strongest first: ``recipient_id``; ``verp_token``; ``mailing_code`` (the
    mailing-id header) with the address; ``original_message_id``; the address
    alone (its most recent recipient row in the account, if any).
    """

    email: str
    kind: str  # bounce | delay | complaint | autoreply | delivered | open | unsubscribe | other
    dedupe_key: str
    reason: str = ""
    smtp_status: str = ""
    reply: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    feedback_type: str | None = None
    gave_up: bool = False  # DSN Action: failed with a 4.x.x status
    severity: str | None = None  # only when the source is authoritative (e.g. "suppressed")
    occurred_at: dt.datetime | None = None  # naive UTC
    provider: str = "mail"
    provider_event_id: str | None = None
    source: str = ""
    account_id: int | None = None
    recipient_id: int | None = None
    verp_token: str | None = None
    mailing_code: str | None = None
    original_message_id: str | None = None


#: Single-line text fields of ``EventIn`` (lookup hints included: they are bound as parameters).
_LINE_FIELDS = ("email", "kind", "reason", "smtp_status", "reply", "remote_mta", "feedback_type", "severity",
                "provider", "provider_event_id", "source", "verp_token", "mailing_code", "original_message_id",
                "dedupe_key")
#: Columns that are ``VARCHAR(255)`` on PostgreSQL (SQLite does not check): longer text is cut.
_CHAR_FIELDS = ("reason", "smtp_status", "reply", "remote_mta", "feedback_type", "provider_event_id",
                "original_message_id")
_line_values = operator.attrgetter(*_LINE_FIELDS)  # one C call for the fifteen values
_char_values = operator.attrgetter(*_CHAR_FIELDS)
#: The longest address RFC 5321 allows.
_EMAIL_MAX = 254
_ID_MAX = 2**63 - 1


def clean_event(e: EventIn) -> str | None:
    """Make ``e`` storable in place; return why its address is unusable, or None.

    Events come from files anyone can write: a JSON ``"\\udc80"`` escape, an
    ESC byte in a diagnostic, a 300-character message id or a 20-digit
    recipient id are all valid JSON, yet each would fail the whole batch at
    the database (or repaint the operator's terminal).  So text is made safe
    (control characters become spaces, undecodable ones U+FFFD, long values
    are cut, an over-long dedupe key is replaced by its hash, which is just
    as stable), and an impossible recipient id is dropped (it is only a hint).
    The address is the one thing that cannot be repaired: the returned
    problem lets a reader reject the event with its place instead of storing
    an address nobody sent to.  Cheap when nothing is wrong (one search).

    The address is also normalised (``normalize_email``) and the time made
    naive UTC, the forms they are stored and matched in: the ingest runner
    cleans events in its reader process, so that work is off the writer.
    """
    problem = None
    if LINE_BAD.search("".join(filter(None, _line_values(e)))):
        for name in _LINE_FIELDS:
            value = getattr(e, name)
            if not value or not LINE_BAD.search(value):
                continue
            if name == "dedupe_key":
                e.dedupe_key = "h:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
                continue
            if name == "email":
                problem = f"unusable address {ascii(value)[:120]} (control characters or undecodable bytes)"
            setattr(e, name, clean_line(value))
    e.email = normalize_email(e.email) if e.email else ""  # before the length check: IDNA lengthens
    if e.diagnostic and TEXT_BAD.search(e.diagnostic):
        e.diagnostic = clean_text(e.diagnostic)
    if len(e.email) > _EMAIL_MAX:
        problem = problem or f"unusable address: {len(e.email)} characters (at most {_EMAIL_MAX})"
    if max(map(len, filter(None, _char_values(e))), default=0) > CHAR_MAX:
        for name in _CHAR_FIELDS:
            value = getattr(e, name)
            if value and len(value) > CHAR_MAX:
                setattr(e, name, value[:CHAR_MAX])
    if len(e.dedupe_key) > CHAR_MAX:
        e.dedupe_key = "h:" + hashlib.sha256(e.dedupe_key.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    if e.recipient_id is not None and not 0 < e.recipient_id <= _ID_MAX:
        e.recipient_id = None
    if e.account_id is not None and not 0 < e.account_id <= _ID_MAX:
        e.account_id = None
    if e.occurred_at is not None and e.occurred_at.tzinfo is not None:
        try:
            e.occurred_at = e.occurred_at.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01 +05:00: before datetime's range in UTC; taken as unknown
            e.occurred_at = None
    return problem


@dataclass(slots=True)
class RecordResult:
    """What one call of ``record_events`` did, for progress and the summary."""

    events: int = 0  # new events stored
    duplicates: int = 0  # already recorded (same dedupe key)
    blocked: int = 0  # addresses newly blocked
    global_blocks: int = 0  # addresses newly blocked in every account
    consent_revoked: int = 0  # persons whose consent was revoked
    counted: int = 0  # soft bounces counted against an address
    unmatched: int = 0  # events whose address is unknown in every account
    blocked_emails: list[str] = field(default_factory=list)

    def add(self, other: "RecordResult") -> None:
        self.events += other.events
        self.duplicates += other.duplicates
        self.blocked += other.blocked
        self.global_blocks += other.global_blocks
        self.consent_revoked += other.consent_revoked
        self.counted += other.counted
        self.unmatched += other.unmatched
        self.blocked_emails.extend(other.blocked_emails)


# --------------------------------------------------------------------------
# Recording: linking, rules, writes
# --------------------------------------------------------------------------

#: rows per IN (...) list: far below SQLite's 32,766 bound parameters.
_CHUNK = 900

#: Recipient status order: a status never moves back to an earlier one, except
#: that a delivery or an open after a *soft* bounce or a delay wins (the retry worked).
_RANK = {"sent": 0, "delivered": 1, "opened": 2, "pending": 3, "bounced": 4, "complained": 5}

_ADDRESS_COLS = (
    "id", "account_id", "person_id", "email", "domain", "status", "bounce_count", "blocked_reason",
    "blocked_category", "blocked_at", "blocked_cause", "global_block",
)
#: An address with its state (the defaults when it has no state row), columns as ``_ADDRESS_COLS``.
_ADDRESS_FIELDS = (
    "a.id, a.account_id, a.person_id, a.email, a.domain, COALESCE(s.status, 'active'), "
    "COALESCE(s.bounce_count, 0), s.blocked_reason, s.blocked_category, s.blocked_at, s.blocked_cause, "
    "COALESCE(s.global_block, {false})"
)
_ADDRESS_FROM = "address a LEFT JOIN address_state s ON s.id = a.id"


def _address_fields() -> str:
    """``_ADDRESS_FIELDS`` with the backend's boolean literal."""
    return _ADDRESS_FIELDS.format(false="false" if isinstance(database.obj, PostgresqlDatabase) else "0")


def _address_select() -> str:
    """An address with its state, columns as ``_ADDRESS_COLS`` (add a ``WHERE``)."""
    return f"SELECT {_address_fields()} FROM {_ADDRESS_FROM}"


_RECIPIENT_COLS = ("id", "mailing_id", "address_id", "person_id", "status", "phase", "severity", "sent_at", "email",
                   "category", "reason", "blame", "smtp_status", "diagnostic", "opened", "opened_at",
                   "delivered_at", "last_event_at")
_MAILING_AT = _RECIPIENT_COLS.index("mailing_id")
#: The kinds ``classify`` derives a category, severity or blame for; every other kind gets ``_UNCLASSIFIED``.
_CLASSIFIED = frozenset(("bounce", "delay", "complaint"))
_UNCLASSIFIED = classify("delivered", None)
#: Recipient text columns the rules set from the latest bounce, delay or complaint.
_RECIPIENT_TEXT = ("severity", "category", "reason", "blame", "smtp_status", "diagnostic")
_CLEARED = dict.fromkeys(_RECIPIENT_TEXT, "")  # a delivery or an open after a problem clears its report


def dedupe_key(*parts: object) -> str:
    """A stable key for events that carry no provider id (hash of the parts)."""
    h = hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode("utf-8", "replace"))
    return h.hexdigest()[:40]


def _chunks(values: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _select_in(sql: str, values: Sequence, extra: Sequence = ()) -> list[tuple]:
    """Run ``sql`` (containing one ``IN ({})``) for ``values`` in chunks.

    ``extra`` parameters are bound before the list, so their placeholders
    must come before ``IN ({})`` in the statement.
    """
    rows: list[tuple] = []
    values = list(values)
    for part in _chunks(values):
        marks = ",".join("?" * len(part))
        rows.extend(database.execute_sql(driver_sql(sql.format(marks)), (*extra, *part)).fetchall())
    return rows


def _select_pairs(sql: str, pairs: Sequence[tuple]) -> list[tuple]:
    """Run ``sql`` (containing one ``VALUES {}``) for the 2-tuples ``pairs``, in chunks."""
    rows: list[tuple] = []
    for part in _chunks(pairs, _CHUNK // 2):
        marks = ",".join(["(?,?)"] * len(part))
        rows.extend(database.execute_sql(driver_sql(sql.format(marks)), [v for pair in part for v in pair]).fetchall())
    return rows


def _executemany(sql: str, rows: Sequence[Sequence]) -> None:
    if not rows:
        return
    cursor = database.cursor()
    cursor.executemany(driver_sql(sql), rows)


class _Link:
    """The rows an event was linked to."""

    __slots__ = ("account_id", "mailing_id", "recipient", "address", "person_id")

    def __init__(self) -> None:
        self.account_id: int | None = None
        self.mailing_id: int | None = None
        self.recipient: dict | None = None
        self.address: dict | None = None
        self.person_id: int | None = None


def _load_links(events: list[EventIn]) -> list[_Link]:
    """Link every event to recipient, address, mailing, person and account.

    All lookups are batched: one query per kind of hint for the whole batch.
    """
    rec_by_id: dict[int, dict] = {}
    rec_by_token: dict[str, dict] = {}
    rec_by_msgid: dict[str, dict] = {}
    rcols = ", ".join(f"r.{c}" for c in _RECIPIENT_COLS)

    def take(rows: list[tuple]) -> list[dict]:
        return [dict(zip(_RECIPIENT_COLS, row)) for row in rows]

    ids = {e.recipient_id for e in events if e.recipient_id}
    if ids:
        for r in take(_select_in(f"SELECT {rcols} FROM recipient r WHERE r.id IN ({{}})", sorted(ids))):
            rec_by_id[r["id"]] = r
    tokens = {e.verp_token for e in events if e.verp_token}
    if tokens:
        for r, tok in ((dict(zip(_RECIPIENT_COLS, row[:-1])), row[-1]) for row in _select_in(
                f"SELECT {rcols}, r.token FROM recipient r WHERE r.token IN ({{}})", sorted(tokens))):
            rec_by_token[tok] = r
    msgids = {e.original_message_id for e in events if e.original_message_id}
    if msgids:
        for r, mid in ((dict(zip(_RECIPIENT_COLS, row[:-1])), row[-1]) for row in _select_in(
                f"SELECT {rcols}, r.message_id FROM recipient r WHERE r.message_id IN ({{}})", sorted(msgids))):
            rec_by_msgid.setdefault(mid, r)
    codes = {e.mailing_code for e in events if e.mailing_code}
    mailing_by_code: dict[str, tuple[int, int]] = {}
    if codes:
        for mid, acc, code in _select_in("SELECT id, account_id, code FROM mailing WHERE code IN ({})", sorted(codes)):
            mailing_by_code[code] = (mid, acc)
    rec_by_mailing_email: dict[tuple[int, str], dict] = {}
    by_id: dict[int, dict] = {}  # addresses with their state
    wanted = {(mailing_by_code[e.mailing_code][0], e.email) for e in events
              if e.mailing_code in mailing_by_code}
    if wanted:
        # One query for the whole batch, per (mailing, e-mail) pair: the e-mail index, then that
        # mailing's recipient of each address found ((mailing, address) index), so only the wanted
        # recipient rows are read; joining every recipient of the address read twice as many rows
        # (an address is in several mailings) and took 1.6x as long.  The address and its state come
        # in the same rows (a second query by id cost 5% of an ingest of provider events).
        n = len(_RECIPIENT_COLS)
        for row in _select_pairs(
                f"WITH wanted (mailing_id, email) AS (VALUES {{}}) SELECT {rcols}, {_address_fields()}, "
                f"wanted.email FROM wanted JOIN address a ON a.email = wanted.email "
                "JOIN recipient r ON r.mailing_id = wanted.mailing_id AND r.address_id = a.id "
                "AND r.email = wanted.email "  # the e-mail it was sent to (an address may have been edited since)
                "LEFT JOIN address_state s ON s.id = a.id", sorted(wanted, key=lambda w: (w[1], w[0]))):
            rec_by_mailing_email[(row[_MAILING_AT], row[-1])] = dict(zip(_RECIPIENT_COLS, row[:n]))
            if row[n] not in by_id:
                by_id[row[n]] = dict(zip(_ADDRESS_COLS, row[n:-1]))
        # A recipient whose address was deleted keeps its e-mail: look for those by mailing.
        rest = sorted(wanted - rec_by_mailing_email.keys())
        for mid in sorted({m for m, _ in rest}):
            for r in take(_select_in(
                    f"SELECT {rcols} FROM recipient r WHERE r.mailing_id = ? AND r.address_id IS NULL "
                    f"AND r.email IN ({{}})", sorted({em for m, em in rest if m == mid}), (mid,))):
                rec_by_mailing_email[(r["mailing_id"], r["email"])] = r

    links: list[_Link] = []
    for e in events:
        link = _Link()
        rec = None
        if e.recipient_id:
            rec = rec_by_id.get(e.recipient_id)
        if rec is None and e.verp_token:
            rec = rec_by_token.get(e.verp_token)
        if rec is None and e.mailing_code in mailing_by_code:
            rec = rec_by_mailing_email.get((mailing_by_code[e.mailing_code][0], e.email))
            link.mailing_id, link.account_id = mailing_by_code[e.mailing_code]
        if rec is None and e.original_message_id:
            rec = rec_by_msgid.get(e.original_message_id)
            # a message id names the copy sent to one recipient; trust it only for that address
            if rec is not None and rec["email"] != e.email and e.email:
                rec = None
        if rec is not None:
            link.recipient = rec
            link.mailing_id = rec["mailing_id"]
        links.append(link)

    # Addresses: by id for linked recipients, by e-mail for the rest.
    addr_ids = {lk.recipient["address_id"] for lk in links if lk.recipient and lk.recipient["address_id"]}
    addr_ids -= by_id.keys()  # those came with their recipients
    if addr_ids:
        for row in _select_in(_address_select() + " WHERE a.id IN ({})", sorted(addr_ids)):
            by_id[row[0]] = dict(zip(_ADDRESS_COLS, row))
    loose = sorted({e.email for e, lk in zip(events, links) if lk.recipient is None and e.email})
    by_email: dict[str, list[dict]] = {}
    if loose:
        for row in _select_in(_address_select() + " WHERE a.email IN ({}) ORDER BY a.id", loose):
            a = dict(zip(_ADDRESS_COLS, row))
            a = by_id.setdefault(a["id"], a)
            by_email.setdefault(a["email"], []).append(a)
    mailing_accounts: dict[int, int] = {}
    need_acc = sorted({lk.mailing_id for lk in links if lk.mailing_id and lk.account_id is None})
    if need_acc:
        mailing_accounts = dict(_select_in("SELECT id, account_id FROM mailing WHERE id IN ({})", need_acc))
    # The latest recipient row of an address that has no hint: the mailing it most likely answers.
    latest_rec: dict[int, dict] = {}
    unlinked = sorted({a["id"] for e, lk in zip(events, links) if lk.recipient is None
                       for a in by_email.get(e.email, [])})
    if unlinked:
        rows = _select_in("SELECT address_id, MAX(id) FROM recipient WHERE address_id IN ({}) GROUP BY address_id",
                          unlinked)
        rec_ids = [rid for _, rid in rows]
        if rec_ids:
            for r in take(_select_in(f"SELECT {rcols} FROM recipient r WHERE r.id IN ({{}})", rec_ids)):
                latest_rec[r["address_id"]] = r

    for e, lk in zip(events, links):
        if lk.recipient is not None:
            addr = by_id.get(lk.recipient["address_id"]) if lk.recipient["address_id"] else None
            lk.address = addr
            lk.person_id = lk.recipient["person_id"]
            lk.account_id = lk.account_id or mailing_accounts.get(lk.mailing_id) or (addr and addr["account_id"])
            continue
        candidates = by_email.get(e.email, [])
        if e.account_id is not None:
            candidates = [a for a in candidates if a["account_id"] == e.account_id]
        elif lk.account_id is not None:
            candidates = [a for a in candidates if a["account_id"] == lk.account_id] or candidates
        if not candidates:
            lk.account_id = lk.account_id or e.account_id
            continue
        # Prefer the account that most recently mailed this address.
        best = max(candidates, key=lambda a: (latest_rec[a["id"]]["id"] if a["id"] in latest_rec else 0, -a["id"]))
        lk.address = best
        lk.account_id = best["account_id"]
        lk.person_id = best["person_id"]
        rec = latest_rec.get(best["id"])
        if rec is not None and (lk.mailing_id is None or rec["mailing_id"] == lk.mailing_id):
            if rec["sent_at"] is None or e.occurred_at is None or _as_dt(rec["sent_at"]) <= e.occurred_at:
                lk.recipient = rec
                lk.mailing_id = rec["mailing_id"]
    for lk in links:
        if lk.account_id is None and lk.mailing_id is not None:
            lk.account_id = mailing_accounts.get(lk.mailing_id)
    return links


def _as_dt(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))


def _lock_for_ingest() -> None:
    """Serialise rule application between writers.

    SQLite: the transaction is ``BEGIN IMMEDIATE`` (taken by the caller), so
    the dedupe check and the address state read here cannot go stale.
    PostgreSQL: a transaction-scoped advisory lock does the same for
    concurrent ingest processes and for the operators' bulk state changes,
    which take the same lock.
    """
    lock_state_writers()


def _lock_addresses(links: list[_Link]) -> None:
    """PostgreSQL: lock the batch's addresses in id order and read them again under the lock.

    The rules read an address (its state, its person) and write it back.  The
    other writers of the state (bulk actions and their undo, address edits and
    deletions, settings) take the advisory lock ``_lock_for_ingest`` holds,
    so they do not interleave with the batch.  The row locks (``FOR NO KEY
    UPDATE``, which still lets others insert rows referring to them) also
    hold off the writers of the address row that do not take it (a CRM
    import relinking its person) until the batch commits, and the rules see
    the latest committed row; taking them in id order, the order every writer
    uses, means fewer deadlocks.  An address deleted meanwhile is unlinked.
    SQLite needs none of this: its ``BEGIN IMMEDIATE`` already excludes every
    other writer.
    """
    if not isinstance(database.obj, PostgresqlDatabase):
        return
    held = {id(lk.address): lk.address for lk in links if lk.address is not None}
    if not held:
        return
    by_id: dict[int, list[dict]] = {}
    for a in held.values():
        by_id.setdefault(a["id"], []).append(a)
    fresh: dict[int, dict] = {}
    for part in _chunks(sorted(by_id)):
        marks = ",".join("?" * len(part))
        for row in database.execute_sql(driver_sql(
                f"{_address_select()} WHERE a.id IN ({marks}) ORDER BY a.id FOR NO KEY UPDATE OF a"), part):
            fresh[row[0]] = dict(zip(_ADDRESS_COLS, row))
    for aid, copies in by_id.items():
        for a in copies:
            if aid in fresh:
                a.update(fresh[aid])
    for lk in links:
        if lk.address is not None and lk.address["id"] not in fresh:
            lk.address = None
            if lk.recipient is not None:
                lk.recipient = dict(lk.recipient, address_id=None)


@retry_on_conflict
def record_events(events: Sequence[EventIn], *, cause: str = "", cleaned: bool = False) -> RecordResult:
    """Store ``events`` and apply every address rule, in one transaction.

    Rules (``shared/design/taxonomy.md``; thresholds from ``models.settings``):

    * a hard bounce with recipient blame blocks the address at once;
    * a soft recipient-blame bounce increments the consecutive count, and the
      address is blocked once the count exceeds ``soft_bounce_limit``;
      a delivery or an open resets the count;
    * sender-blame bounces are stored and shown, never counted;
    * delays leave the recipient pending (``sweep_pending`` ages them);
    * ``suppressed`` mirrors the provider's block without counting;
    * a recipient-blame hard bounce of one address in ``global_bounce_accounts``
      or more accounts blocks it in every account;
    * a complaint (feedback type other than ``not-spam``) or an unsubscribe
      revokes the person's e-mail marketing consent;
    * an event whose ``dedupe_key`` is already stored changes nothing.

    Events are applied in time order so that a batch gives the same result
    as the events arriving one by one.  Each is made storable (``clean_event``)
    unless ``cleaned`` says the caller did that already (the ingest runner
    does, to reject an unusable address with its file and line).
    """
    result = RecordResult()
    if not events:
        return result
    settings = all_settings()
    limit = int(settings["soft_bounce_limit"])
    global_n = int(settings["global_bounce_accounts"])
    hard_categories = frozenset(settings["hard_categories"])
    now = utcnow()

    # Normalise and drop duplicates inside the batch (first one wins).
    seen: set[str] = set()
    batch: list[EventIn] = []
    for e in events:
        if not cleaned:
            clean_event(e)
        if e.dedupe_key in seen:
            result.duplicates += 1
            continue
        seen.add(e.dedupe_key)
        if e.occurred_at is None:
            e.occurred_at = now
        batch.append(e)

    with write_transaction():
        _lock_for_ingest()
        known = {row[0] for row in _select_in("SELECT dedupe_key FROM event WHERE dedupe_key IN ({})",
                                              [e.dedupe_key for e in batch])}
        if known:
            result.duplicates += sum(1 for e in batch if e.dedupe_key in known)
            batch = [e for e in batch if e.dedupe_key not in known]
        if not batch:
            return result
        order = sorted(range(len(batch)), key=lambda i: batch[i].occurred_at)
        batch = [batch[i] for i in order]
        links = _load_links(batch)
        _lock_addresses(links)

        addr_changed: dict[int, dict] = {}
        addr_last: dict[int, tuple] = {}
        rec_changed: dict[int, dict] = {}
        consent_revoke: dict[int, tuple[str, dt.datetime, str]] = {}  # person -> (source, time, e-mail)
        blocks: list[tuple[dict, dict, str]] = []  # (address before, address after, note)
        hard_emails: set[str] = set()
        event_rows: list[tuple] = []

        for e, lk in zip(batch, links):
            if e.severity == "suppressed":
                c = classify("bounce", "suppressed")
            elif e.kind in _CLASSIFIED:
                c = classify(e.kind, e.reason or None, e.smtp_status, e.reply, gave_up=e.gave_up,
                             hard_categories=hard_categories)
            else:  # deliveries and opens, most of a provider's stream
                c = _UNCLASSIFIED
            category, severity, blame = c.category or "", c.severity or "", c.blame or ""
            if e.kind == "bounce" and e.severity and e.severity != "suppressed":
                severity = e.severity  # an authoritative source (provider) said so
            addr = lk.address
            rec = lk.recipient
            if addr is None and e.email:
                result.unmatched += 1
            event_rows.append((
                lk.account_id, lk.mailing_id, rec["id"] if rec else None, addr["id"] if addr else None,
                lk.person_id, e.email, e.kind, e.reason or "", category, severity, blame, e.smtp_status or "",
                e.reply or "", e.diagnostic or "", e.remote_mta or "", e.feedback_type, e.provider,
                e.provider_event_id, e.source or "", e.original_message_id, e.dedupe_key, e.occurred_at, now,
            ))
            result.events += 1

            # --- recipient state
            if rec is not None:
                rc = rec_changed.get(rec["id"])
                if rc is None:
                    rc = rec_changed[rec["id"]] = dict(rec, _stored=rec)
                old = rc["status"]
                new = old
                if e.kind == "complaint":
                    new = "complained"
                elif e.kind == "bounce":
                    if old not in ("complained", "opened"):
                        new = "bounced"
                elif e.kind == "delay":
                    if old == "sent":
                        new = "pending"
                elif e.kind == "delivered":
                    if old in ("sent", "pending") or (old == "bounced" and rc.get("severity") != "hard"):
                        new = "delivered"
                        rc["delivered_at"] = e.occurred_at
                elif e.kind == "open":
                    rc["opened"] = True
                    rc["opened_at"] = e.occurred_at
                    if old in ("sent", "delivered", "pending") or (old == "bounced" and rc.get("severity") != "hard"):
                        new = "opened"
                if new != old:
                    rc["status"] = new
                    rc["phase"] = phase_of(new)
                if e.kind in ("bounce", "delay", "complaint"):
                    rc["severity"] = severity
                    rc["category"] = category
                    rc["reason"] = e.reason or ""
                    rc["blame"] = blame
                    rc["smtp_status"] = e.smtp_status or ""
                    rc["diagnostic"] = e.diagnostic or ""
                elif e.kind in ("delivered", "open") and new != old:
                    rc.update(_CLEARED)
                rc["last_event_at"] = e.occurred_at
                rc["dirty"] = True

            # --- consent
            person_id = lk.person_id or (addr["person_id"] if addr else None)
            if person_id and ((e.kind == "complaint" and (e.feedback_type or "abuse") != "not-spam")
                              or e.kind == "unsubscribe"):
                what = f"complaint ({e.feedback_type or 'abuse'})" if e.kind == "complaint" else "unsubscribe"
                consent_revoke.setdefault(person_id, (f"{what} via {e.provider}: {e.email}", e.occurred_at, e.email))

            if addr is None:
                continue
            # --- address state
            a = addr_changed.get(addr["id"])
            if a is None:
                if e.kind in ("delivered", "open") and not addr["bounce_count"]:
                    continue  # resets a count that is zero: nothing to change (most deliveries and opens)
                a = addr_changed[addr["id"]] = dict(addr)
                a["_before"] = dict(addr)
            if e.kind in ("bounce", "delay", "complaint"):
                addr_last[addr["id"]] = (e.occurred_at, e.kind, e.reason or "", category, severity,
                                         e.smtp_status or "", e.diagnostic or "")
            if e.kind in ("delivered", "open"):
                a["bounce_count"] = 0
                continue
            if e.kind != "bounce":
                continue
            note = ""
            if severity == "hard" and blame == "recipient":
                hard_emails.add(addr["email"])
                note = f"hard bounce {e.smtp_status or e.reply or ''} {e.reason}".replace("  ", " ")
            elif severity == "soft" and blame == "recipient":
                a["bounce_count"] = int(a["bounce_count"] or 0) + 1
                result.counted += 1
                if a["bounce_count"] > limit:
                    note = f"soft bounce {a['bounce_count']} > limit {limit} ({e.reason or 'undefined'})"
            elif severity == "suppressed":
                note = "suppressed by the provider (already on its list)"
            if note and a["status"] != "blocked":
                a["status"] = "blocked"
                a["blocked_reason"] = e.reason or ("suppressed" if severity == "suppressed" else "undefined")
                a["blocked_category"] = category
                a["blocked_at"] = e.occurred_at
                where = f" ({e.source})" if e.source else ""
                a["blocked_cause"] = f"{note}{where}: {e.diagnostic[:300]}" if e.diagnostic else f"{note}{where}"
                blocks.append((a["_before"], a, note))

        _executemany(
            "INSERT INTO event (account_id, mailing_id, recipient_id, address_id, person_id, email, kind, reason, "
            "category, severity, blame, smtp_status, reply, diagnostic, remote_mta, feedback_type, provider, "
            "provider_event_id, source, original_message_id, dedupe_key, occurred_at, recorded_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            event_rows,
        )
        _write_recipients(rec_changed)
        _write_addresses(addr_changed, addr_last)
        result.blocked += len(blocks)
        result.blocked_emails.extend(a["email"] for _, a, _ in blocks)
        if blocks:
            entry = audit.log("rule: block address", cause=cause or "bounce rules", affected=len(blocks),
                              details={"rule": "block"})
            _audit_items(entry.id, [(b, note) for b, _, note in blocks])
        if hard_emails:
            result.global_blocks += _apply_global_bounces(sorted(hard_emails), global_n, now, cause)
        if consent_revoke:
            result.consent_revoked += _revoke_consent(consent_revoke, cause)
    return result


def _write_recipients(changed: dict[int, dict]) -> None:
    """Write what changed, and only that, per recipient.

    The recipient table carries a dozen keyset indexes (status, severity,
    category, reason, last event...): SQLite rewrites the entry of every index
    that holds a column named in ``SET``, changed or not.  So each row gets an
    UPDATE naming exactly its changed columns (rows with the same set of
    changed columns share one ``executemany``), and a row with nothing new
    (a second open, a repeated bounce at the same time) is not written.
    ``opened``, ``opened_at`` and ``delivered_at`` only move forward: a
    stored value is kept.
    """
    groups: dict[tuple[str, ...], list[tuple]] = {}
    for r in changed.values():
        if not r.get("dirty"):
            continue
        old = r["_stored"]
        sets: dict[str, object] = {}
        if r["status"] != old["status"]:
            sets["status"] = r["status"]
        if r["phase"] != old["phase"]:  # sent -> delivered keeps its phase: no keyset index entry moves
            sets["phase"] = r["phase"]
        if r.get("opened") and not old["opened"]:
            sets["opened"] = True
        for col in ("opened_at", "delivered_at"):
            if old[col] is None and r.get(col) is not None:
                sets[col] = r[col]
        for col in _RECIPIENT_TEXT:
            if (r.get(col) or "") != (old[col] or ""):
                sets[col] = r.get(col) or ""
        last = r.get("last_event_at")
        if last is not None and (old["last_event_at"] is None or _as_dt(old["last_event_at"]) != last):
            sets["last_event_at"] = last
        if sets:
            groups.setdefault(tuple(sets), []).append((*sets.values(), r["id"]))
    for cols, rows in groups.items():
        rows.sort(key=lambda row: row[-1])  # id order: the order every writer locks rows in
        _executemany(f"UPDATE recipient SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?", rows)


def _write_addresses(changed: dict[int, dict], last: dict[int, tuple]) -> None:
    """Write the changed states (``models.address_state``) and each address's latest event."""
    write_states([a for a in changed.values()
                  if any(a[k] != a["_before"][k] for k in ("status", "bounce_count", "blocked_reason", "blocked_at"))])
    _executemany(
        "UPDATE address SET last_event_at = ?, last_kind = ?, last_reason = ?, last_category = ?, "
        "last_severity = ?, last_status = ?, last_diagnostic = ? WHERE id = ?",
        [(*values, aid) for aid, values in sorted(last.items())],
    )


def _audit_items(audit_id: int, items: list[tuple[dict, str]]) -> None:
    _executemany(
        "INSERT INTO audit_item (audit_id, address_id, person_id, email, prev_status, prev_bounce_count, "
        "prev_blocked_reason, prev_blocked_category, prev_blocked_at, prev_blocked_cause, prev_global_block, note) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(audit_id, b["id"], b["person_id"], b["email"], b["status"], b["bounce_count"], b["blocked_reason"],
          b["blocked_category"], b["blocked_at"], b["blocked_cause"], bool(b["global_block"]), note)
         for b, note in items],
    )


def _apply_global_bounces(emails: list[str], threshold: int, now: dt.datetime, cause: str) -> int:
    """Block everywhere the addresses hard-bounced (recipient blame) in ``threshold``+ accounts."""
    rows = _select_in(
        "SELECT email, COUNT(DISTINCT account_id) FROM event WHERE email IN ({}) AND kind = 'bounce' "
        "AND severity = 'hard' AND blame = 'recipient' AND account_id IS NOT NULL GROUP BY email",
        emails,
    )
    global_emails = sorted(email for email, n in rows if n >= threshold)
    if not global_emails:
        return 0
    targets = [dict(zip(_ADDRESS_COLS, r)) for r in _select_in(
        _address_select() + " WHERE s.global_block IS NOT TRUE AND a.email IN ({})", global_emails)]
    if not targets:
        return 0
    entry = audit.log("rule: global bounce", cause=cause or "bounce rules", affected=len(targets),
                      details={"rule": "global", "accounts": threshold})
    _audit_items(entry.id, [(t, f"hard bounce in {threshold}+ accounts") for t in targets])
    write_states([dict(t, global_block=True, status="blocked", blocked_reason=t["blocked_reason"] or "userunknown",
                       blocked_category=t["blocked_category"] or "unknown_user", blocked_at=t["blocked_at"] or now,
                       blocked_cause=f"global bounce: hard bounces in {threshold} or more accounts")
                  for t in targets])
    return len({t["email"] for t in targets})


def _revoke_consent(revoke: dict[int, tuple[str, dt.datetime, str]], cause: str) -> int:
    """Revoke e-mail marketing consent; returns how many persons changed state."""
    person_ids = sorted(revoke)
    current = dict(_select_in("SELECT person_id, state FROM consent WHERE person_id IN ({})", person_ids))
    existing_pids = {r[0] for r in _select_in("SELECT id FROM person WHERE id IN ({})", person_ids)}
    changed = [pid for pid in person_ids if pid in existing_pids and current.get(pid) != "revoked"]
    if not changed:
        return 0
    update = [(revoke[pid][0], revoke[pid][1], pid) for pid in changed if pid in current]
    insert = [(pid, "revoked", revoke[pid][0], revoke[pid][1]) for pid in changed if pid not in current]
    _executemany("UPDATE consent SET state = 'revoked', source = ?, changed_at = ? WHERE person_id = ?", update)
    _executemany("INSERT INTO consent (person_id, state, source, changed_at) VALUES (?,?,?,?)", insert)
    entry = audit.log("rule: revoke consent", cause=cause or "spam complaint", affected=len(changed),
                      details={"rule": "consent"})
    _executemany(
        "INSERT INTO audit_item (audit_id, person_id, email, prev_consent, note) VALUES (?,?,?,?,?)",
        [(entry.id, pid, revoke[pid][2], current.get(pid, "none"), revoke[pid][0]) for pid in changed],
    )
    return len(changed)


def sweep_pending(*, now: dt.datetime | None = None) -> RecordResult:
    """Turn delays older than ``pending_expiry_hours`` without a delivery into soft bounces.

    A sender that is still retrying is not a failure yet; one that has not
    delivered after the expiry window gave up in all but name.  The synthetic
    bounce goes through ``record_events`` (reason ``expired``), so counting,
    blocking and the audit log work exactly as for a real bounce, and its
    dedupe key makes the sweep safe to run from cron as often as wanted.
    """
    now = now or utcnow()
    hours = int(all_settings()["pending_expiry_hours"])
    cutoff = now - dt.timedelta(hours=hours)
    rows = database.execute_sql(driver_sql(
        "SELECT r.id, r.email, MIN(e.occurred_at) FROM recipient r "
        "JOIN event e ON e.recipient_id = r.id AND e.kind = 'delay' "
        "WHERE r.status = 'pending' AND r.delivered_at IS NULL "
        "GROUP BY r.id, r.email HAVING MIN(e.occurred_at) < ?"), (cutoff,)).fetchall()
    events = [
        EventIn(email=email, kind="bounce", reason="expired", smtp_status="4.4.7", gave_up=True,
                dedupe_key=dedupe_key("sweep", rid, first), provider="rule", recipient_id=rid,
                diagnostic=f"still pending {hours} hours after the first delay: counted as a soft bounce",
                source="sweep", occurred_at=now)
        for rid, email, first in rows
    ]
    result = RecordResult()
    for part in _chunks(events, 2000):
        result.add(record_events(part, cause=f"pending sweep ({hours} h)"))
    return result

