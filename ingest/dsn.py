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


_ADDR_TYPE_RE = re.compile(r"^\s*(?:rfc822|x-[\w-]{1,40}|utf-8|unknown)\s*;\s*", re.IGNORECASE)
_MTA_TYPE_RE = re.compile(r"^\s*(?:dns|x-[\w-]{1,40}|smtp|unknown)\s*;\s*", re.IGNORECASE)  # "dns; mx.example.com"
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


_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
MAX_BLOCKS = 2000


_BLOCK_START_RE = re.compile(r"^(?:reporting-mta|original-envelope-id|received-from-mta|arrival-date)\s*:", re.IGNORECASE | re.MULTILINE)


def dsn_fields_start(text: str, low: str | None = None) -> int:
    """Where DSN fields written into a text part begin (-1: there are none).

    The per-message block (``Reporting-MTA`` ...) when it precedes the first
    recipient field, else that recipient field's line.
    """
    if "recipient" not in (text.lower() if low is None else low):  # every recipient field holds it: skip the regex on prose
        return -1
    m = _FIELD_LINE_RE.search(text)
    if m is None:
        return -1
    head = _BLOCK_START_RE.search(text, 0, m.start())
    return head.start() if head else m.start()


# one item per field line (with its continuation lines) or per blank line (empty groups), matched from the
# newline before it so that the regex engine jumps from line to line; prose lines are passed over
_DSN_ITEM_RE = re.compile(r"\n(?:([A-Za-z][A-Za-z0-9-]{1,40})[ \t]*:[ \t]*([^\n]*(?:\n[ \t]+[^\s][^\n]*)*)|[ \t]*(?=\n))")
_FOLD_RE = re.compile(r"[ \t]*\n[ \t]+")


def _dsn_blocks(text: str) -> list[list[tuple[str, str]]]:
    """The DSN fields of ``text`` (lower-case name, unfolded value), grouped by blank-line-separated block."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for name, value in _DSN_ITEM_RE.findall("\n" + text + "\n"):
        if not name:
            if current:
                blocks.append(current)
                current = []
                if len(blocks) >= MAX_BLOCKS:
                    return blocks
            continue
        name = name.lower()
        if name in DSN_FIELDS:
            current.append((name, (_FOLD_RE.sub(" ", value) if "\n" in value else value).strip()))
    if current:
        blocks.append(current)
    return blocks


def parse_delivery_status(text: str) -> DsnReport:
    """Read the fields of a delivery-status part (or text holding such fields).

    Blank lines separate the per-message block from the per-recipient ones,
    but real reports put fields before ``Final-Recipient`` inside a block
    (``Action``/``Status``/``Diagnostic-Code`` first), several recipients in
    one block, or blank lines inside a recipient's block.  So: the fields of
    a block that come before its first recipient field belong to that
    recipient; a block without a recipient field continues the current
    recipient (or is the per-message block when there is none yet).
    """
    report = DsnReport()
    state: list[DsnRecipient | None] = [None]
    for fields in _dsn_blocks(text):
        first = next((i for i, (n, _) in enumerate(fields) if n in _RECIPIENT_FIELDS), -1)
        if first < 0:
            for name, value in fields:
                _apply(report, state[0], name, value)
            continue
        pending = fields[:first]
        for name, value in fields[first:]:
            if name in _RECIPIENT_FIELDS:
                before = state[0]
                _recipient_field(report, state, name, value, new_block=bool(pending) or before is not None and first >= 0)
                if pending and state[0] is not before:
                    for pname, pvalue in pending:
                        _apply(report, state[0], pname, pvalue)
                    pending = []
                first = -1  # only the block's first recipient field may open a recipient by position
                continue
            _apply(report, state[0], name, value)
        for pname, pvalue in pending:
            _apply(report, state[0], pname, pvalue)
    return report


def _recipient_field(report: DsnReport, state: list[DsnRecipient | None], name: str, value: str, new_block: bool) -> None:
    current = state[0]
    addr = strip_addr_type(value)
    if name == "final-recipient":
        if current is None or current.final or (new_block and (current.action or current.status)):
            current = DsnRecipient()
            report.recipients.append(current)
        current.final = addr
    else:
        if current is None or current.original or (current.final and (current.status or current.diagnostic)) or (
            new_block and (current.action or current.status)
        ):
            current = DsnRecipient()
            report.recipients.append(current)
        current.original = current.original or addr
    state[0] = current


def _apply(report: DsnReport, current: DsnRecipient | None, name: str, value: str) -> None:
    """One non-recipient field, onto the report (per-message) or the current recipient."""
    if name == "reporting-mta" and current is None:
        report.reporting_mta = _MTA_TYPE_RE.sub("", value).strip()
        return
    if name == "arrival-date" and current is None:
        report.arrival_date = value
        return
    if current is None:
        return
    if name == "action":
        current.action = value.strip().lower().split()[0] if value.strip() else ""
    elif name == "status":
        current.status = value.strip().split()[0] if value.strip() else ""
    elif name == "remote-mta":
        current.remote_mta = _MTA_TYPE_RE.sub("", value).strip()
    elif name == "diagnostic-code":
        m = re.match(r"\s*([\w-]{1,20})\s*;\s*", value)
        if m:
            current.diagnostic_type = m.group(1).upper()
            value = value[m.end():]
        current.diagnostic = (current.diagnostic + " " + value).strip() if current.diagnostic else value.strip()
    elif name == "last-attempt-date":
        current.last_attempt = value
