"""Spam complaints: RFC 5965 feedback reports and the common non-standard ones.

Finding the complaining person matters more than the report's form: many
mailbox providers redact ``Original-Rcpt-To``, so the address is taken, in
order, from an unredacted ``Original-Rcpt-To`` / ``Removal-Recipient``, the
provider's own recipient header in the returned original (Microsoft JMRP's
``X-HmXmrOriginalRecipient``), and the original's ``To``.  Linking hints
(VERP return path, mailing-id header, Message-ID) are gathered by the caller
from the same original.
"""

from __future__ import annotations

import re

from ingest.mime import Part, parse_headers

_REDACTED_RE = re.compile(r"redacted|x{3,}|\*{2,}|^[^@]*@?$|@$|example\.invalid", re.IGNORECASE)
_ADDR_RE = re.compile(r"[^\s<>\"',;:()]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_UNSUB_LOCAL_RE = re.compile(r"^(?:unsubscribe|opt-?out|leave|remove|list-unsubscribe)\b", re.IGNORECASE)

FEEDBACK_TYPES = {"abuse", "fraud", "virus", "other", "not-spam", "auth-failure", "opt-out", "dmarc"}


def first_address(value: str) -> str:
    """The first e-mail address in a header value ("" when none)."""
    m = _ADDR_RE.search(value)
    return m.group(0).strip(".") if m else ""


def is_redacted(address: str) -> bool:
    return not address or _REDACTED_RE.search(address) is not None


def feedback_fields(text: str) -> dict[str, list[str]]:
    """The fields of a ``message/feedback-report`` part, by lower-case name."""
    out: dict[str, list[str]] = {}
    for name, value in parse_headers(text.replace("\n\n", "\n")):
        out.setdefault(name, []).append(value)
    return out


def complainant(fields: dict[str, list[str]], original: list[tuple[str, str]]) -> tuple[str, bool]:
    """(address, redacted) of the person who complained."""
    reported = ""
    for name in ("original-rcpt-to", "removal-recipient"):
        for value in fields.get(name, []):
            addr = first_address(value)
            if addr and not is_redacted(addr):
                return addr, False
            reported = reported or addr
    fallback = ""
    # the To of the returned original is the address the sender mailed; an
    # X-Original-To was added on the receiving side and may be a list or an alias
    for name in ("x-hmxmroriginalrecipient", "to", "x-original-to"):
        for n, value in original:
            if n == name:
                addr = first_address(value)
                if addr and not is_redacted(addr):
                    return addr, False
                fallback = fallback or addr
    # nothing unredacted: the best we have (the linking hints may still find the person)
    return reported if "@" in reported and not reported.endswith("@") else (fallback or reported), True


def feedback_type(fields: dict[str, list[str]]) -> str:
    value = (fields.get("feedback-type") or ["abuse"])[0].strip().lower()
    return value if value else "abuse"


def is_jmrp(original: Part | None) -> bool:
    """Microsoft's Junk Mail Reporting Program: the original with its recipient header."""
    return original is not None and bool(original.get("x-hmxmroriginalrecipient"))


def unsubscribe_request(root: Part) -> str:
    """The sender of a ``mailto:`` List-Unsubscribe request, or "".

    Providers (Apple, Gmail one-click fallbacks, Yahoo) unsubscribe a person
    by sending a mail to the list's unsubscribe address; the person asked us
    to stop, which the taxonomy treats as an opt-out complaint.
    """
    to = first_address(root.get("to"))
    subject = root.get("subject").strip().lower()
    local = to.split("@", 1)[0]
    if _UNSUB_LOCAL_RE.match(local) or subject in ("unsubscribe", "opt-out", "optout"):
        if subject.startswith("unsubscribe") or _UNSUB_LOCAL_RE.match(local):
            return first_address(root.get("from"))
    return ""
