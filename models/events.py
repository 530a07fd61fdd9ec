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
