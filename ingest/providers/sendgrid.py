"""SendGrid Event Webhook entries -> ``EventIn``.

One webhook POST is a JSON array of events; each carries ``sg_event_id``,
the dedupe key.  Custom arguments arrive as extra top-level keys, which is
where a sender puts the mailing code and recipient token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.providers.common import (
    ProviderEventError,
    clean_email,
    content_key,
    detect_reason,
    event,
    hints,
    make_key,
    message_id,
    event_time,
    split_status,
)
from models.events import EventIn

PROVIDER = "sendgrid"
#: The event types that become events; the rest (processed, ...) are only counted as untracked.
TRACKED = frozenset({"bounce", "dropped", "deferred", "spamreport", "delivered", "open", "click", "unsubscribe",
                     "group_unsubscribe"})

#: bounce_classification -> reason, used when the SMTP text names no reason itself.
_CLASSIFICATION: dict[str, str] = {
    "invalid address": "userunknown",
    "technical failure": "systemerror",
    "content": "contenterror",
    "reputation": "badreputation",
    "frequency or volume too high": "speeding",
    "mailbox unavailable": "suspend",
    "unclassified": "undefined",
}


def to_events(
    obj: Mapping[str, Any],
    *,
    source: str = "",
    account_id: int | None = None,
    mailing_header: str = "X-Bouncedesk-Mailing",
) -> list[EventIn]:
    """The event of one SendGrid webhook entry; [] for types we do not track (processed, ...)."""
    name = obj.get("event")
    if not isinstance(name, str):
        raise ProviderEventError("not a SendGrid event: no event field")
    email = clean_email(obj.get("email"))
    if not email:
        raise ProviderEventError(f"SendGrid {name} event without an email")
    if name not in TRACKED:  # before the key, hints and time: "processed" is half a real stream
        return []
    key = make_key(PROVIDER, obj["sg_event_id"]) if obj.get("sg_event_id") else content_key(PROVIDER, obj)
    common = {
        "provider": PROVIDER,
        "source": source,
        "account_id": account_id,
        "link": hints(obj, mailing_header=mailing_header),
        "occurred_at": event_time(obj.get("timestamp")),
        "original_message_id": message_id(obj.get("smtp-id")),
    }

    if name == "bounce":
        text = str(obj.get("reason") or "")
        status, reply = split_status(obj.get("status"), text)
        fallback = _CLASSIFICATION.get(str(obj.get("bounce_classification") or "").lower(), "undefined")
        if fallback == "contenterror" and "spam" in text.lower():
            fallback = "spamdetected"
        if fallback == "suspend" and any(w in text.lower() for w in ("quota", "full")):
            fallback = "mailboxfull"
        reason = detect_reason(status, text, "")
        if reason in ("", "undefined", "onhold"):
            reason = fallback
        if obj.get("type") == "blocked" and reason in ("undefined", "systemerror"):
            reason = "blocked"
        return [event(email, "bounce", key, reason=reason, smtp_status=status, reply=reply,
                      diagnostic=text, **common)]
    if name == "dropped":
        return [event(email, "bounce", key, reason="suppressed", severity="suppressed",
                      diagnostic=str(obj.get("reason") or ""), **common)]
    if name == "deferred":
        text = str(obj.get("response") or obj.get("reason") or "")
        status, reply = split_status(text)
        return [event(email, "delay", key, reason=detect_reason(status, text, "onhold"),
                      smtp_status=status, reply=reply, diagnostic=text, **common)]
    if name == "spamreport":
        return [event(email, "complaint", key, reason="feedback", feedback_type="abuse", **common)]
    if name == "delivered":
        text = str(obj.get("response") or "")
        status, reply = split_status(text)
        return [event(email, "delivered", key, reason="delivered", smtp_status=status, reply=reply,
                      diagnostic=text, **common)]
    if name in ("open", "click"):
        # A click proves the message was opened even when images (the open pixel) were blocked.
        return [event(email, "open", key, **common)]
    if name in ("unsubscribe", "group_unsubscribe"):
        return [event(email, "unsubscribe", key, **common)]
    return []
