"""Mailgun webhooks and event-log entries -> ``EventIn``.

Webhook bodies are ``{"signature": {...}, "event-data": {...}}``; the API's
event log holds bare ``event-data`` objects.  The dedupe key is the webhook
``signature.token`` (unique per delivery of one event); without it the event
``id`` plus its time stamp, because Mailgun's ``id`` is only unique within a
day.  The same event exported from the log and received by webhook therefore
counts twice only when one of them lacks the token -- Mailgun gives no other
shared id.
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
    headers_dict,
    hints,
    make_key,
    message_id,
    event_time,
    split_status,
)
from models.events import EventIn

PROVIDER = "mailgun"
#: The event types that become events; the rest (accepted, stored, ...) are only counted as untracked.
TRACKED = frozenset({"failed", "complained", "unsubscribed", "delivered", "opened", "clicked"})


def _key(obj: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    signature = obj.get("signature")
    if isinstance(signature, Mapping) and signature.get("token"):
        return make_key(PROVIDER, signature["token"])
    if data.get("id"):
        return make_key(PROVIDER, data["id"], data.get("timestamp", ""))
    return content_key(PROVIDER, data)


def to_events(
    obj: Mapping[str, Any],
    *,
    source: str = "",
    account_id: int | None = None,
    mailing_header: str = "X-Bouncedesk-Mailing",
) -> list[EventIn]:
    """The event of one Mailgun webhook body or event-log entry; [] for types we do not track."""
    data = obj.get("event-data", obj)
    if not isinstance(data, Mapping) or not isinstance(data.get("event"), str):
        raise ProviderEventError("not a Mailgun event: no event-data.event")
    name = data["event"]
    email = clean_email(data.get("recipient"))
    if not email:
        if name in ("accepted", "rejected", "stored"):
            return []
        raise ProviderEventError(f"Mailgun {name} event without a recipient")
    if name not in TRACKED:  # before the headers, hints and key: "accepted" is one per message sent
        return []
    message = data.get("message") if isinstance(data.get("message"), Mapping) else {}
    headers = headers_dict(message.get("headers"))
    link = hints(data.get("user-variables"), headers, mailing_header=mailing_header)
    common = {
        "provider": PROVIDER,
        "source": source,
        "account_id": account_id,
        "link": link,
        "occurred_at": event_time(data.get("timestamp")),
        "original_message_id": message_id(headers.get("message-id")),
    }
    key = _key(obj, data)

    if name == "failed":
        ds = data.get("delivery-status") if isinstance(data.get("delivery-status"), Mapping) else {}
        text = " ".join(str(ds.get(k) or "") for k in ("message", "description")).strip()
        status, reply = split_status(ds.get("enhanced-code"), text)
        if ds.get("code") not in (None, ""):
            reply = str(ds.get("code"))
        mg_reason = str(data.get("reason") or "")
        mta = str(ds.get("mx-host") or "")
        if mg_reason.startswith("suppress-"):
            return [event(email, "bounce", key, reason="suppressed", severity="suppressed",
                          smtp_status=status, reply=reply, diagnostic=text or mg_reason, remote_mta=mta, **common)]
        if data.get("severity") == "temporary":
            return [event(email, "delay", key, reason=detect_reason(status, text, "onhold"),
                          smtp_status=status, reply=reply, diagnostic=text, remote_mta=mta, **common)]
        return [event(email, "bounce", key, reason=detect_reason(status, text),
                      smtp_status=status, reply=reply, diagnostic=text, remote_mta=mta,
                      gave_up=mg_reason == "old", **common)]
    if name == "complained":
        return [event(email, "complaint", key, reason="feedback", feedback_type="abuse", **common)]
    if name == "unsubscribed":
        return [event(email, "unsubscribe", key, **common)]
    if name == "delivered":
        ds = data.get("delivery-status") if isinstance(data.get("delivery-status"), Mapping) else {}
        return [event(email, "delivered", key, reason="delivered", reply=str(ds.get("code") or ""),
                      diagnostic=str(ds.get("message") or ""), remote_mta=str(ds.get("mx-host") or ""), **common)]
    if name in ("opened", "clicked"):
        # A click proves the message was opened even when images (the open pixel) were blocked.
        return [event(email, "open", key, **common)]
    return []
