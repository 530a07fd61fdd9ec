"""What the four provider importers share: time stamps, addresses, linking hints, keys.

Each provider module turns one JSON event (a ``dict``) into zero or more
``EventIn`` values.  The pieces here are the ones every provider needs in the
same form, so that the same bounce reported by two providers ends up with the
same labels and the same kind of dedupe key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from typing import Any

from ingest.reasons import find_reason, find_status
from models.events import EventIn


class ProviderEventError(ValueError):
    """One provider event cannot be understood (it goes to the rejects file)."""


#: Keys under which senders put bouncedesk's linking data into a provider's
#: custom data (Mailgun user-variables, SendGrid custom args, Postmark
#: Metadata, SES tags).  Several spellings, because the sending tool is not ours.
MAILING_KEYS = ("mailing", "mailing_code", "mailing_id", "bouncedesk_mailing", "x-bouncedesk-mailing")
TOKEN_KEYS = ("recipient_token", "verp_token", "token", "bouncedesk_token")
RECIPIENT_ID_KEYS = ("recipient_id", "bouncedesk_recipient")

_REPLY = re.compile(r"(?:[a-z]+;\s*)?([245]\d\d)(?![\d.])", re.I)
_FRACTION = re.compile(r"\.(\d+)")

#: A dedupe key longer than this is hashed (the column is a 255-character CharField).
_MAX_KEY = 200


def make_key(provider: str, *parts: object) -> str:
    """``provider:part:part...``, hashed when too long, so the same event always gives the same key."""
    key = ":".join([provider, *(str(p) for p in parts)])
    if len(key) > _MAX_KEY:
        key = f"{provider}:sha1:{hashlib.sha1(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return key


def content_key(provider: str, event: Mapping[str, Any], *extra: object) -> str:
    """A key from the event's own content, for events that carry no id at all.

    The same JSON object delivered twice has the same content, so it still
    counts once; two different events never share it.
    """
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha1(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return make_key(provider, "content", digest, *extra)


def parse_time(value: Any) -> dt.datetime | None:
    """Naive UTC from epoch seconds (int, float or digits) or ISO 8601 text.

    Providers disagree: Mailgun sends float epochs, SendGrid integer epochs,
    SES ``2016-01-27T14:59:38.237Z``, Postmark seven fractional digits and an
    offset.  Anything unreadable gives ``None``; an event's own time goes
    through ``event_time``, which refuses that instead.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)):
            stamp = dt.datetime.fromtimestamp(float(value), dt.UTC)
            return stamp.replace(tzinfo=None)
        if not isinstance(value, str):
            return None
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        stamp = dt.datetime.fromisoformat(text)
        if stamp.tzinfo is not None:  # inside the try: 0001-01-01T00:00+05:00 is before year 1 in UTC
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        return None
    return stamp


def event_time(value: Any) -> dt.datetime | None:
    """``parse_time`` for an event's own time: missing is None (the rules use "now"), unreadable is an error.

    A time that is there but cannot be read (``"timestamp": "not a time"``)
    is bad input: recorded at "now", the event would silently reorder the
    address's history (which report is the latest, when a delay expires), so
    the line is set aside with its reason like any other bad line.
    """
    if value is None or value == "":
        return None
    stamp = parse_time(value)
    if stamp is None:
        raise ProviderEventError(f"unreadable event time {str(value)[:60]!r}")
    return stamp


def clean_email(value: Any) -> str:
    """The bare address from ``a@b``, ``<a@b>`` or ``"Name" <a@b>``; "" when there is none."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if "<" in text:
        text = parseaddr(text)[1] or text.strip("<>")
    return text.strip() if "@" in text else ""


def split_status(*texts: Any) -> tuple[str, str]:
    """The first RFC 3463 status (``5.1.1``) and SMTP reply code (``550``) found in ``texts``."""
    status = reply = ""
    for text in texts:
        if text is None or text == "":
            continue
        text = str(text)
        if not status:
            status = find_status(text)
        if not reply:
            m = _REPLY.match(text.strip())
            if m:
                reply = m.group(1)
    return status, reply


def lookup(data: Any, keys: Iterable[str]) -> str | None:
    """The first of ``keys`` present in the mapping ``data`` (case-insensitive), as text."""
    if not isinstance(data, Mapping):
        return None
    return _first(_lowered(data), keys)


def _lowered(data: Mapping) -> Mapping:
    """``data`` with lower-case keys (the mapping itself when its keys already are: the common case)."""
    for k in data:
        if not isinstance(k, str) or k.lower() != k:
            return {str(k).lower(): v for k, v in data.items()}
    return data


def _first(lowered: Mapping, keys: Iterable[str]) -> str | None:
    for key in keys:
        value = lowered.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return str(value)
    return None


def hints(*sources: Any, mailing_header: str = "") -> dict[str, Any]:
    """Linking hints (mailing code, VERP token, recipient id) from custom data and headers."""
    keys = MAILING_KEYS + ((mailing_header.lower(),) if mailing_header else ())
    out: dict[str, Any] = {}
    for data in sources:
        if not isinstance(data, Mapping):
            continue
        lowered = _lowered(data)  # once per source: these are looked up for every event
        out.setdefault("mailing_code", _first(lowered, keys))
        out.setdefault("verp_token", _first(lowered, TOKEN_KEYS))
        rid = _first(lowered, RECIPIENT_ID_KEYS)
        if rid and rid.isdigit() and not out.get("recipient_id"):
            out["recipient_id"] = int(rid)
        for key in ("mailing_code", "verp_token"):
            if out.get(key) is None:
                out.pop(key, None)
    return {k: v for k, v in out.items() if v}


def headers_dict(headers: Any) -> dict[str, str]:
    """SES-style ``[{"name","value"}]`` or a plain mapping, as ``{lower name: value}``."""
    out: dict[str, str] = {}
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            out[str(name).lower()] = str(value)
    elif isinstance(headers, list):
        for item in headers:
            if isinstance(item, Mapping) and "name" in item:
                out[str(item["name"]).lower()] = str(item.get("value", ""))
    return out


def message_id(value: Any) -> str | None:
    """A Message-ID in the ``<id@host>`` form the mail parser stores, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return text if text.startswith("<") else f"<{text}>"


def event(
    email: str,
    kind: str,
    key: str,
    *,
    provider: str,
    source: str,
    account_id: int | None,
    link: Mapping[str, Any] | None = None,
    **fields: Any,
) -> EventIn:
    """One ``EventIn`` with the fields every provider sets the same way."""
    return EventIn(
        email=email,
        kind=kind,
        dedupe_key=key,
        provider=provider,
        provider_event_id=key.split(":", 1)[1][:255],
        source=source,
        account_id=account_id,
        **dict(link or {}),
        **fields,
    )



def detect_reason(status: str, text: str, fallback: str = "undefined") -> str:
    """The fine reason for a provider bounce from its status and SMTP text.

    The mail parser's rules (``ingest.reasons.find_reason``) decide, so a
    bounce reported by a provider and the same bounce read from a DSN get the
    same reason; when they find nothing specific, the provider's own label
    (``fallback``) is the better guess.
    """
    reason = find_reason(status, "", text)
    if reason in ("onhold", "undefined", "expired", "delivered") and fallback:
        return fallback
    return reason
