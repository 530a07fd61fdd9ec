"""What the mail parser makes of one returned message.

These two dataclasses are the contract between the parser (``ingest.parse``),
the ingest engine that turns them into events, and ``bouncedesk parse``.
Category, severity and blame are never decided here: they are filled in from
``models.taxonomy.classify`` so that mail and provider events agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def parse_date(value: str) -> datetime | None:
    """An RFC 5322 date as naive UTC; None when missing or unreadable."""
    if not value:
        return None
    try:
        d = parsedate_to_datetime(value.strip()[:200])
        if d is not None and d.tzinfo is not None:
            # inside the try: year 9999 at -01:00 (or 1 at +05:00) is past datetime's range in UTC
            d = d.astimezone(UTC).replace(tzinfo=None)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return d


@dataclass(slots=True)
class ParsedRecipient:
    """One failed, delayed, delivered or complaining address of a report."""

    address: str
    status: str = ""  # RFC 3463, e.g. 5.1.1
    reply: str = ""  # SMTP reply code, e.g. 550
    reason: str = ""  # fine reason (models.taxonomy.REASONS)
    category: str | None = None
    severity: str | None = None
    blame: str | None = None
    diagnostic: str = ""  # the remote text as received (whitespace folded)
    remote_mta: str = ""
    feedback_type: str | None = None
    action: str = ""  # DSN Action (failed, delayed, delivered, ...) when known
    gave_up: bool = False  # Action: failed with a 4.x.x status

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status,
            "reply": self.reply,
            "reason": self.reason,
            "category": self.category,
            "severity": self.severity,
            "blame": self.blame,
            "diagnostic": self.diagnostic,
            "feedback_type": self.feedback_type,
        }


@dataclass(slots=True)
class ParsedMessage:
    """One returned message: its kind, its recipients and the linking hints."""

    source: str
    kind: str  # bounce | delay | complaint | autoreply | delivered | other
    recipients: list[ParsedRecipient] = field(default_factory=list)
    error: str | None = None
    subject: str = ""  # of the report itself
    from_: str = ""
    message_id: str = ""
    original_message_id: str = ""
    mailing_code: str | None = None
    verp_token: str | None = None
    date_header: str = ""  # the report's Date header, read into ``occurred_at`` only when asked
    raw_sha256: str = ""  # hash of the raw bytes when the report has no Message-ID (dedupe)
    _occurred: datetime | None | bool = field(default=False, repr=False, compare=False)

    @property
    def occurred_at(self) -> datetime | None:
        """When the report was written (naive UTC), from its Date header.

        Computed on first use: ``bouncedesk parse`` never needs it, and date
        parsing is a noticeable share of reading a message.
        """
        if self._occurred is False:
            self._occurred = parse_date(self.date_header)
        return self._occurred  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        """The object printed by ``bouncedesk parse --json`` (issue 3)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "recipients": [r.to_json() for r in self.recipients],
            "error": self.error,
        }
