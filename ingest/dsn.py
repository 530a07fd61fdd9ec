"""RFC 3464 delivery status notifications: the ``message/delivery-status`` part.

The part is a per-message block followed by one block per recipient, each a
set of header-like fields separated by empty lines.  Real MTAs fold fields,
put blank lines in odd places, omit ``Final-Recipient`` or write the fields
straight into a text part; the reader below copes with all of that by
starting a new recipient block at every ``Final-Recipient`` /
``Original-Recipient`` rather than trusting blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.mime import parse_headers

_ADDR_TYPE_RE = re.compile(r"^\s*(?:rfc822|x-[\w-]{1,40}|utf-8|unknown)\s*;\s*", re.IGNORECASE)
_ANGLE_RE = re.compile(r"<([^<>\s]{1,320})>")
_FIELD_LINE_RE = re.compile(r"^(?:final-recipient|original-recipient|x-actual-recipient)\s*:", re.IGNORECASE | re.MULTILINE)

DSN_FIELDS = frozenset({
    "reporting-mta", "received-from-mta", "arrival-date", "original-envelope-id", "final-recipient",
    "original-recipient", "action", "status", "remote-mta", "diagnostic-code", "last-attempt-date",
    "will-retry-until", "x-actual-recipient", "x-postfix-sender", "x-postfix-queue-id", "dsn-gateway",
    "x-original-message-id", "x-display-name",
})


@dataclass(slots=True)
class DsnRecipient:
    """The fields of one per-recipient block (values unfolded, prefixes kept off)."""

    final: str = ""
    original: str = ""
    action: str = ""
    status: str = ""
    remote_mta: str = ""
    diagnostic: str = ""
    diagnostic_type: str = ""
    last_attempt: str = ""


@dataclass(slots=True)
class DsnReport:
    reporting_mta: str = ""
    arrival_date: str = ""
    recipients: list[DsnRecipient] = field(default_factory=list)


def strip_addr_type(value: str) -> str:
    """``rfc822; <a@b>`` -> ``a@b``."""
    value = _ADDR_TYPE_RE.sub("", value, count=1).strip()
    m = _ANGLE_RE.search(value)
    if m:
        value = m.group(1)
    return value.strip().strip("<>\"'").strip()


def has_dsn_fields(text: str) -> bool:
    """True when ``text`` holds DSN recipient fields (inline in a text part, too)."""
    return _FIELD_LINE_RE.search(text) is not None


def parse_delivery_status(text: str) -> DsnReport:
    """Read the fields of a delivery-status part (or text holding such fields)."""
    report = DsnReport()
    current: DsnRecipient | None = None
    for name, value in parse_headers(text.replace("\n\n", "\n")):
        if name not in DSN_FIELDS:
            continue
        if name in ("final-recipient", "original-recipient", "x-actual-recipient"):
            addr = strip_addr_type(value)
            if name == "final-recipient":
                if current is None or current.final:
                    current = DsnRecipient()
                    report.recipients.append(current)
                current.final = addr
            else:
                if current is None or current.original or (current.final and current.action):
                    current = DsnRecipient()
                    report.recipients.append(current)
                current.original = current.original or addr
            continue
        if name == "reporting-mta" and current is None:
            report.reporting_mta = _ADDR_TYPE_RE.sub("", value).strip()
            continue
        if name == "arrival-date" and current is None:
            report.arrival_date = value
            continue
        if current is None:
            continue
        if name == "action":
            current.action = value.strip().lower().split()[0] if value.strip() else ""
        elif name == "status":
            current.status = value.strip().split()[0] if value.strip() else ""
        elif name == "remote-mta":
            current.remote_mta = _ADDR_TYPE_RE.sub("", value).strip()
        elif name == "diagnostic-code":
            m = re.match(r"\s*([\w-]{1,20})\s*;\s*", value)
            if m:
                current.diagnostic_type = m.group(1).upper()
                value = value[m.end():]
            current.diagnostic = (current.diagnostic + " " + value).strip() if current.diagnostic else value.strip()
        elif name == "last-attempt-date":
            current.last_attempt = value
    return report
