"""The Peewee schema of bouncedesk.

Design notes (why it looks like this):

* Recipients carry copies of the person's name, company and address
  (``name``, ``company``, ``email``, ``domain``) so that the recipient screen
  can sort and page a million rows by any shown column through one composite
  index ``(mailing, phase, column, id)`` without joins.  The copies are
  written when the recipient row is created and refreshed by the rules that
  change the source (editing an address, renaming a person).
* An address belongs to one account; the same e-mail in two accounts is two
  rows, which is what makes a *global* bounce (3+ accounts) a query.
* ``Event`` is the append-only history: one row per recipient per returned
  message or provider event, unique on ``dedupe_key`` so that ingesting the
  same input twice changes nothing.
* An address's bounce state (blocked, soft-bounce count, global block) is
  a row of ``AddressState``, and only while it is not the default: the
  operators' bulk clear is then a ``DELETE`` of narrow rows, not a rewrite
  of the wide address table (see the class).
* ``AuditItem`` keeps, per affected row, the values an action overwrote, so
  clear-flag and former-employee changes can be undone with one set-based
  statement; a selection member names the audit entry that added it
  (``added_by``), which is its undo.
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    SQL,
    TextField,
)

from models.db import database


def utcnow() -> dt.datetime:
    """Naive UTC now: both backends store timestamps without a zone, all in UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Account(BaseModel):
    """One client of the installation (an agency serves several)."""

    id = AutoField()
    name = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)


class Company(BaseModel):
    id = AutoField()
    account = ForeignKeyField(Account, backref="companies", on_delete="CASCADE")
    name = CharField()
    domain = CharField(null=True)

    class Meta:
        indexes = ((("account", "name"), False),)


class Person(BaseModel):
    id = AutoField()
    account = ForeignKeyField(Account, backref="persons", on_delete="CASCADE")
    company = ForeignKeyField(Company, null=True, backref="persons", on_delete="SET NULL")
    external_id = CharField(null=True)
    first_name = CharField(default="")
    last_name = CharField(default="")
    full_name = CharField(default="", index=True)
    former_employee = BooleanField(default=False)
    former_employee_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("account", "external_id"), True),
            (("account", "full_name", "id"), False),
        )


class Consent(BaseModel):
    """The person's current e-mail marketing consent; changes are audit-logged."""

    id = AutoField()
    person = ForeignKeyField(Person, unique=True, backref="consents", on_delete="CASCADE")
    state = CharField(default="granted")  # granted | revoked
    source = CharField(default="")
    changed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("state", "changed_at"), False),)


class Address(BaseModel):
    id = AutoField()
    account = ForeignKeyField(Account, backref="addresses", on_delete="CASCADE")
    person = ForeignKeyField(Person, null=True, backref="addresses", on_delete="SET NULL")
    email = CharField()  # models.addresses.normalize_email: lower-case, IDNA domain
    domain = CharField()
    last_event_at = DateTimeField(null=True)
    last_kind = CharField(null=True)
    last_reason = CharField(null=True)
    last_category = CharField(null=True)
    last_severity = CharField(null=True)
    last_status = CharField(null=True)
    last_diagnostic = TextField(null=True)
    validation_status = CharField(null=True)  # ok | invalid_syntax | no_domain | null_mx | no_mail | unknown
    validation_reason = TextField(null=True)
    validation_suggestion = CharField(null=True)
    validated_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("account", "email"), True),
            (("email",), False),
            (("domain",), False),
        )


class AddressState(BaseModel):
    """The bounce state of one address; a row only while it differs from "active, nothing counted".

    Why a table of its own: an operator clears the flag of 100,000 addresses
    at once.  With the state in ``address`` (a wide table of a million rows)
    that rewrote nearly every page of it (10% of rows spread over all pages)
    and deleted one entry per row from every Blocked-screen index: 5-10 s.
    Here the clear is a ``DELETE`` of narrow rows (``models.address_state``),
    and an address without a row is active with a count of 0.

    ``id`` *is* the address id (one-to-one, deleted with the address).
    ``account``, ``email`` and ``domain`` are copies of the address's, so the
    Blocked screen pages and sorts from this table's own indexes; they are
    written with the row, and an edited e-mail clears the state (the row goes).
    A blocked row always has a reason and a time (CHECK): the screen's keyset
    pages then need no NULL segment for those sort columns.
    """

    id = IntegerField(primary_key=True, constraints=[SQL('REFERENCES "address" ("id") ON DELETE CASCADE')])
    account = ForeignKeyField(Account, on_delete="CASCADE", index=False)  # the partial indexes lead with it
    email = CharField()
    domain = CharField()
    status = CharField(default="active")  # active | blocked
    bounce_count = IntegerField(default=0)  # consecutive recipient-blame soft bounces
    blocked_reason = CharField(null=True)
    blocked_category = CharField(null=True)
    blocked_at = DateTimeField(null=True)
    blocked_cause = TextField(null=True)  # human-readable: which event, which rule
    global_block = BooleanField(default=False)

    class Meta:
        table_name = "address_state"
        constraints = [SQL("CHECK (status <> 'blocked' OR (blocked_reason IS NOT NULL AND blocked_at IS NOT NULL))")]


#: The Blocked screen's sorts and group drill-downs, one keyset index each,
#: for all accounts and within one (the screen's account filter).  Partial
#: (``WHERE status = 'blocked'``): only blocked rows.  Each index costs a
#: bulk clear one deletion per row (~0.15 s per 100,000 on SQLite), which is
#: why ``models.address_state`` drops and rebuilds them instead when a change
#: removes a large share of the rows: then their number hardly matters
#: (measured: 0.05 s for the six all-account ones), and the all-accounts
#: pages stay one index range each instead of a merge of one sub-page per
#: account (two to three times slower at five accounts).
BLOCKED_ONLY = SQL("status = 'blocked'")
BLOCKED_SORTS = ("blocked_at", "email", "domain", "blocked_reason", "bounce_count", "global_block")
for _col in BLOCKED_SORTS:
    AddressState.add_index(AddressState.index(getattr(AddressState, _col), AddressState.id,
                                              where=BLOCKED_ONLY, name=f"address_state_blocked_all_{_col}"))
    AddressState.add_index(AddressState.index(AddressState.account, getattr(AddressState, _col), AddressState.id,
                                              where=BLOCKED_ONLY, name=f"address_state_blocked_{_col}"))
#: New mailings leave out an e-mail blocked globally in any account (``models.mailings``).
AddressState.add_index(AddressState.index(AddressState.email, where=SQL("global_block"),
                                          name="address_state_global_email"))


class Mailing(BaseModel):
    id = AutoField()
    account = ForeignKeyField(Account, backref="mailings", on_delete="CASCADE")
    code = CharField(unique=True)  # the value of the mailing-id header and VERP prefix
    name = CharField()
    subject = CharField(default="")
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "sent_at", "id"), False),)


#: Recipient.status values, in order of precedence (a later one never goes back).
RECIPIENT_STATUSES = ("sent", "delivered", "opened", "pending", "bounced", "complained")
#: Recipient.phase: the status, except that "sent" and "delivered" are one phase.  No filter tells
#: them apart (Sent is sent, delivered and opened), and a delivery is the commonest event a provider
#: reports: the keyset indexes lead with (mailing, phase), so a delivery moves no entry of theirs
#: (it moved one in each of seven indexes; at a million recipients that was most of an ingest's
#: writes).  Sorting by status and counting per status use the (mailing, status, id) index.
RECIPIENT_PHASES = {"sent": "sent", "delivered": "sent", "opened": "opened", "pending": "pending",
                    "bounced": "bounced", "complained": "complained"}


def phase_of(status: str) -> str:
    """The phase of a recipient status (``RECIPIENT_PHASES``; an unknown status is its own phase)."""
    return RECIPIENT_PHASES.get(status, status)
#: Columns of the recipient screen that can be sorted: each has a keyset index.
RECIPIENT_SORTS = ("name", "company", "email", "severity", "category", "reason", "last_event_at")


class Recipient(BaseModel):
    id = AutoField()
    mailing = ForeignKeyField(Mailing, backref="recipients", on_delete="CASCADE")
    address = ForeignKeyField(Address, null=True, backref="recipients", on_delete="SET NULL")
    person = ForeignKeyField(Person, null=True, backref="recipients", on_delete="SET NULL")
    email = CharField()
    domain = CharField(default="")
    name = CharField(default="")
    company = CharField(default="")
    status = CharField(default="sent")
    phase = CharField(default="sent")  # the status as the keyset indexes see it: see RECIPIENT_PHASES
    opened = BooleanField(default=False)
    severity = CharField(default="")
    category = CharField(default="")
    reason = CharField(default="")
    blame = CharField(default="")
    smtp_status = CharField(default="")
    diagnostic = TextField(default="")
    token = CharField(null=True, unique=True)  # VERP token: bounces+<token>@domain
    message_id = CharField(null=True)  # Message-ID of the copy sent to this recipient
    sent_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)
    opened_at = DateTimeField(null=True)
    last_event_at = DateTimeField(null=True)

    def save(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - peewee's signature
        self.phase = phase_of(self.status)  # derived: every writer of a status keeps its phase
        return super().save(*args, **kwargs)

    class Meta:
        indexes = (
            (("mailing", "address"), True),
            (("mailing", "status", "id"), False),
            (("mailing", "phase", "name", "id"), False),
            (("mailing", "phase", "company", "id"), False),
            (("mailing", "phase", "email", "id"), False),
            (("mailing", "phase", "last_event_at", "id"), False),
            (("address",), False),
            (("person",), False),
            (("message_id",), False),
        )


#: The recipient columns that stay empty until a bounce, a delay or a complaint is reported (and are emptied
#: again when a delivery or an open changes the status).  Most recipients of a mailing have nothing reported,
#: and an open moves a recipient to another phase: an index ``(mailing, phase, column, id)`` of each would move
#: three entries on every open for an empty value.  So each of these sorts has a *partial* index holding only
#: the recipients with something reported (``RECIPIENT_REPORTED``), and the recipients with nothing reported
#: (``RECIPIENT_CLEAN``) are one index ``(mailing, phase, id)`` shared by the three sorts: an open of such a
#: recipient moves one entry instead of three (measured: 7% fewer pages written on a provider's fresh stream,
#: 11% on the mixed one; the indexes are smaller too).  Sorted by one of them, the recipients with nothing
#: reported come first, in id order (like NULLs), then the others by (value, id) (``models.queries``).  The two
#: conditions are each other's negation, so every row is in exactly one of the two ranges, whatever the data.
RECIPIENT_REPORTED_SORTS = ("severity", "category", "reason")
RECIPIENT_CLEAN = " AND ".join(f"{c} = ''" for c in RECIPIENT_REPORTED_SORTS)
RECIPIENT_REPORTED = "(" + " OR ".join(f"{c} <> ''" for c in RECIPIENT_REPORTED_SORTS) + ")"
#: Each index also carries the columns its condition names (after the id, so they change nothing of its
#: order): SQLite reads a partial index as covering only when the columns of its WHERE are in it too, and the
#: pages merge several (id, value) ranges from these indexes without reading a row.
_REPORTED = tuple(getattr(Recipient, c) for c in RECIPIENT_REPORTED_SORTS)
for _col in _REPORTED:
    Recipient.add_index(Recipient.index(Recipient.mailing, Recipient.phase, _col, Recipient.id,
                                        *(c for c in _REPORTED if c is not _col),
                                        where=SQL(RECIPIENT_REPORTED), name=f"recipient_reported_{_col.name}"))
Recipient.add_index(Recipient.index(Recipient.mailing, Recipient.phase, Recipient.id, *_REPORTED,
                                    where=SQL(RECIPIENT_CLEAN), name="recipient_clean"))


class Event(BaseModel):
    """One returned message or provider event for one recipient."""

    id = AutoField()
    account = ForeignKeyField(Account, null=True, backref="events", on_delete="CASCADE")
    mailing = ForeignKeyField(Mailing, null=True, backref="events", on_delete="SET NULL")
    recipient = ForeignKeyField(Recipient, null=True, backref="events", on_delete="SET NULL")
    address = ForeignKeyField(Address, null=True, backref="events", on_delete="SET NULL")
    person = ForeignKeyField(Person, null=True, backref="events", on_delete="SET NULL")
    email = CharField()
    kind = CharField()
    reason = CharField(default="")
    category = CharField(default="")
    severity = CharField(default="")
    blame = CharField(default="")
    smtp_status = CharField(default="")
    reply = CharField(default="")
    diagnostic = TextField(default="")
    remote_mta = CharField(default="")
    feedback_type = CharField(null=True)
    provider = CharField(default="mail")  # mail | ses | mailgun | sendgrid | postmark | rule
    provider_event_id = CharField(null=True)
    source = TextField(default="")  # file and offset, mbox index, IMAP uid, provider id
    original_message_id = CharField(null=True)
    dedupe_key = CharField(unique=True)
    occurred_at = DateTimeField(default=utcnow)
    recorded_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("address", "occurred_at"), False),
            (("recipient",), False),
            (("person", "occurred_at"), False),
            (("kind", "occurred_at", "id"), False),
            (("account", "kind", "occurred_at", "id"), False),
            (("kind", "severity", "occurred_at"), False),
        )


#: The global-bounce rule counts, per e-mail, the accounts with a recipient-blame hard bounce
#: (``models.events._apply_global_bounces``).  Partial: only those events, so it stays small and
#: cheap to maintain, and the count is an index search instead of a scan of every event.
Event.add_index(Event.index(Event.email, Event.account, name="event_hard_bounce_email",
                            where=SQL("kind = 'bounce' AND severity = 'hard' AND blame = 'recipient'")))


#: The Spam complaints screen's sorts that ``(kind, occurred_at, id)`` does
#: not serve, with and without its account filter.  Partial on the kind the
#: screen shows: complaints are a small share of all events.
COMPLAINTS_ONLY = SQL("kind = 'complaint'")
#: ``kind`` leads although the condition fixes it: without statistics SQLite
#: estimates an index by its equality columns, and would otherwise prefer
#: ``(kind, occurred_at, id)`` plus a sort of every complaint.
for _cols in (("kind", "email", "id"), ("kind", "feedback_type", "id"), ("account", "kind", "email", "id"),
              ("account", "kind", "feedback_type", "id")):
    Event.add_index(Event.index(*(getattr(Event, c) for c in _cols), where=COMPLAINTS_ONLY,
                                name="event_complaint_" + "_".join(_cols)))
for _cols in (("id",), ("account", "id")):  # complaints without a feedback type, in id order (see above)
    Event.add_index(Event.index(*(getattr(Event, c) for c in _cols),
                                where=SQL("kind = 'complaint' AND feedback_type IS NULL"),
                                name="event_complaint_no_feedback_type_" + "_".join(_cols)))

class Selection(BaseModel):
    """A static selection or a project: a named set of addresses."""

    id = AutoField()
    account = ForeignKeyField(Account, null=True, backref="selections", on_delete="CASCADE")
    kind = CharField(default="selection")  # selection | project
    name = CharField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "name"), False),)


class SelectionMember(BaseModel):
    id = AutoField()
    # no index of its own: the unique (selection, address) index leads with it
    selection = ForeignKeyField(Selection, backref="members", on_delete="CASCADE", index=False)
    address = ForeignKeyField(Address, backref="memberships", on_delete="CASCADE")
    person = ForeignKeyField(Person, null=True, on_delete="SET NULL")
    added_at = DateTimeField(default=utcnow)
    # the audit entry of the "add to selection" that added this row: its undo is one
    # DELETE by this column, without copying every added row into audit_item
    added_by = IntegerField(null=True)

    class Meta:
        indexes = (
            (("selection", "address"), True),
            (("address",), False),
            (("added_by", "id"), False),
        )


class Setting(BaseModel):
    key = CharField(primary_key=True)
    value = TextField()  # JSON


class AuditLog(BaseModel):
    id = AutoField()
    at = DateTimeField(default=utcnow)
    os_user = CharField(default="")
    action = CharField()
    cause = TextField(default="")
    affected = IntegerField(default=0)
    account = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    details = TextField(default="")  # JSON: parameters of the action
    undoable = BooleanField(default=False)
    undone_at = DateTimeField(null=True)
    undone_by = CharField(null=True)
    undo_of = IntegerField(null=True)  # the audit entry this one undid

    class Meta:
        indexes = ((("at", "id"), False), (("action", "at"), False))


class AuditItem(BaseModel):
    """The values one action overwrote on one row, for undo and for history."""

    id = AutoField()
    # no index of its own: the (audit, id) index leads with it
    audit = ForeignKeyField(AuditLog, backref="items", on_delete="CASCADE", index=False)
    address_id = IntegerField(null=True, index=True)
    person_id = IntegerField(null=True, index=True)
    selection_id = IntegerField(null=True)
    email = CharField(default="")
    prev_status = CharField(null=True)
    prev_bounce_count = IntegerField(null=True)
    prev_blocked_reason = CharField(null=True)
    prev_blocked_category = CharField(null=True)
    prev_blocked_at = DateTimeField(null=True)
    prev_blocked_cause = TextField(null=True)
    prev_global_block = BooleanField(null=True)
    prev_former_employee = BooleanField(null=True)
    prev_consent = CharField(null=True)
    note = TextField(null=True)  # why this row changed (the rule and the event behind it)

    class Meta:
        indexes = ((("audit", "id"), False),)


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Account, Company, Person, Consent, Address, AddressState, Mailing, Recipient, Event,
    Selection, SelectionMember, Setting, AuditLog, AuditItem, SchemaVersion,
)
