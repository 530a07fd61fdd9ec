"""Postmark webhooks -> ``EventIn``.

Bounce and spam-complaint records carry ``ID``, the dedupe key.  Delivery,
Open, Click and SubscriptionChange records have none, so they are keyed on
the message id, record type, recipient and time.  Postmark's ``Type`` is
trusted, not ``TypeCode`` (its own documentation says so).
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

PROVIDER = "postmark"
#: The record types that can become events; the rest are only counted as untracked.
TRACKED = frozenset({"Bounce", "SpamComplaint", "Delivery", "Open", "Click", "SubscriptionChange"})

#: Bounce Type -> (kind, reason, gave_up, severity).  reason "" = read it from the SMTP text.
_TYPES: dict[str, tuple[str, str, bool, str | None]] = {
    "HardBounce": ("bounce", "", False, None),
    "BadEmailAddress": ("bounce", "userunknown", False, None),
    "SoftBounce": ("bounce", "", True, None),
    "Transient": ("delay", "", False, None),
    "DnsError": ("bounce", "networkerror", True, None),
    "SpamNotification": ("bounce", "spamdetected", True, None),
    "VirusNotification": ("bounce", "virusdetected", True, None),
    "Blocked": ("bounce", "blocked", True, None),
    "DMARCPolicy": ("bounce", "authfailure", True, None),
    "ManuallyDeactivated": ("bounce", "suppressed", False, "suppressed"),
    "Unconfirmed": ("bounce", "suppressed", False, "suppressed"),
    "Unknown": ("bounce", "", True, None),
    "AutoResponder": ("autoreply", "vacation", False, None),
    "AddressChange": ("other", "", False, None),
    "ChallengeVerification": ("other", "", False, None),
    "OpenRelayTest": ("other", "", False, None),
    "SMTPApiError": ("other", "", False, None),
    "InboundError": ("other", "", False, None),
    "TemplateRenderingFailed": ("other", "", False, None),
}


def to_events(
    obj: Mapping[str, Any],
    *,
    source: str = "",
    account_id: int | None = None,
    mailing_header: str = "X-Bouncedesk-Mailing",
) -> list[EventIn]:
    """The event of one Postmark webhook record; [] for record types we do not track."""
    record = obj.get("RecordType")
    btype = obj.get("Type")
    if not isinstance(record, str):
        if isinstance(btype, str) and "ID" in obj:
            record = "SpamComplaint" if btype == "SpamComplaint" else "Bounce"
        else:
            raise ProviderEventError("not a Postmark event: no RecordType")
    email = clean_email(obj.get("Email") or obj.get("Recipient"))
    if not email:
        raise ProviderEventError(f"Postmark {record} record without an Email/Recipient")
    if record not in TRACKED:  # before the hints
        return []
    common = {
        "provider": PROVIDER,
        "source": source,
        "account_id": account_id,
        "link": hints(obj.get("Metadata"), mailing_header=mailing_header),
        "original_message_id": message_id(obj.get("MessageID")),
    }
    mid = obj.get("MessageID") or ""

    if record in ("Bounce", "SpamComplaint"):
        key = make_key(PROVIDER, obj["ID"]) if obj.get("ID") not in (None, "") else content_key(PROVIDER, obj)
        when = event_time(obj.get("BouncedAt"))
        text = str(obj.get("Details") or obj.get("Description") or "")
        if record == "SpamComplaint" or btype == "SpamComplaint":
            return [event(email, "complaint", key, reason="feedback", feedback_type="abuse",
                          diagnostic=text, occurred_at=when, **common)]
        kind, reason, gave_up, severity = _TYPES.get(str(btype), ("bounce", "", True, None))
        status, reply = split_status(text)
        if not reason and kind in ("bounce", "delay"):
            reason = detect_reason(status, text, "userunknown" if btype == "HardBounce" else "undefined")
        if kind == "bounce" and btype in ("HardBounce", "BadEmailAddress") and not status:
            status = "5.1.3" if btype == "BadEmailAddress" else "5.0.0"
        return [event(email, kind, key, reason=reason, smtp_status=status, reply=reply, diagnostic=text,
                      gave_up=gave_up, severity=severity, occurred_at=when, **common)]
    if record == "Delivery":
        when = obj.get("DeliveredAt")
        return [event(email, "delivered", make_key(PROVIDER, mid, "delivery", email.lower(), when),
                      reason="delivered", diagnostic=str(obj.get("Details") or ""),
                      occurred_at=event_time(when), **common)]
    if record in ("Open", "Click"):
        # A click proves the message was opened even when images (the open pixel) were blocked.
        when = obj.get("ReceivedAt")
        return [event(email, "open", make_key(PROVIDER, mid, record.lower(), email.lower(), when),
                      occurred_at=event_time(when), **common)]
    if record == "SubscriptionChange":
        if not obj.get("SuppressSending"):
            return []  # a reactivation: nothing to record against the address
        when = obj.get("ChangedAt")
        key = make_key(PROVIDER, mid, "subscription", email.lower(), when)
        why = str(obj.get("SuppressionReason") or "")
        if why in ("HardBounce", "SpamComplaint"):
            # The bounce or complaint itself arrives as its own record: mirror the suppression only.
            return [event(email, "bounce", key, reason="suppressed", severity="suppressed", diagnostic=why,
                          occurred_at=event_time(when), **common)]
        return [event(email, "unsubscribe", key, diagnostic=why, occurred_at=event_time(when), **common)]
    return []
