"""Amazon SES notifications (SNS or event publishing) -> ``EventIn``.

The dedupe key is SES's own ``feedbackId`` for bounces and complaints (the
same in the SNS notification and in the bare object, so a file holding one
and a webhook the other still count once); delivery, delay and open events
have no feedback id and are keyed on the SES message id, recipient and the
event's own time stamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.providers.common import (
    ProviderEventError,
    clean_email,
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

PROVIDER = "ses"
#: The event types about recipients' addresses; the rest (Send, Reject, Rendering Failure, Subscription)
#: are only counted as untracked.
TRACKED = frozenset({"Bounce", "Complaint", "Delivery", "DeliveryDelay", "Open", "Click"})

#: bounceSubType -> (reason, severity given by SES or None for "from the rules").
_SUBTYPES: dict[str, str] = {
    "MailboxFull": "mailboxfull",
    "MessageTooLarge": "mesgtoobig",
    "ContentRejected": "contenterror",
    "AttachmentRejected": "contenterror",
}
#: deliveryDelay.delayType -> reason
_DELAYS: dict[str, str] = {
    "MailboxFull": "mailboxfull",
    "SpamDetected": "spamdetected",
    "RecipientServerError": "systemerror",
    "IPFailure": "blocked",
    "TransientCommunicationFailure": "networkerror",
    "BYOIPHostNameLookupUnavailable": "networkerror",
    "InternalFailure": "systemerror",
}


def _recipients(items: Any) -> list[Mapping[str, Any]]:
    """The recipient objects of a bounce, complaint or delay (one object alone counts as a list of one)."""
    if isinstance(items, Mapping):
        return [items]
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _addresses(items: Any) -> list[Any]:
    """A list of addresses (one address alone counts as a list of one)."""
    if isinstance(items, str):
        return [items]
    return items if isinstance(items, list) else []


def to_events(
    obj: Mapping[str, Any],
    *,
    source: str = "",
    account_id: int | None = None,
    mailing_header: str = "X-Bouncedesk-Mailing",
) -> list[EventIn]:
    """The events of one SES object (``notificationType`` or ``eventType``); [] for types we do not track."""
    kind = obj.get("notificationType") or obj.get("eventType")
    if not isinstance(kind, str):
        raise ProviderEventError("not an SES event: no notificationType or eventType")
    if kind not in TRACKED:  # before the headers and hints: "Send" is one per message
        return []
    mail = obj.get("mail") if isinstance(obj.get("mail"), Mapping) else {}
    headers = headers_dict(mail.get("headers"))
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), Mapping) else {}
    link = hints(headers, mail.get("tags"), mailing_header=mailing_header)
    original = message_id(headers.get("message-id") or common.get("messageId"))
    ses_id = str(mail.get("messageId") or "")
    base = {"provider": PROVIDER, "source": source, "account_id": account_id, "link": link}
    out: list[EventIn] = []

    if kind == "Bounce":
        bounce = obj.get("bounce")
        if not isinstance(bounce, Mapping):
            raise ProviderEventError("SES Bounce without a bounce object")
        btype = str(bounce.get("bounceType") or "Undetermined")
        subtype = str(bounce.get("bounceSubType") or "Undetermined")
        when = event_time(bounce.get("timestamp") or mail.get("timestamp"))
        fid = bounce.get("feedbackId") or f"{ses_id}:{bounce.get('timestamp')}"
        mta = str(bounce.get("reportingMTA") or bounce.get("remoteMtaIp") or "")
        for item in _recipients(bounce.get("bouncedRecipients")):
            email = clean_email(item.get("emailAddress"))
            if not email:
                continue
            diag = str(item.get("diagnosticCode") or "")
            status, reply = split_status(item.get("status"), diag)
            severity = None
            gave_up = btype != "Permanent"
            if subtype in ("Suppressed", "OnAccountSuppressionList"):
                reason, severity = "suppressed", "suppressed"
            elif subtype in _SUBTYPES:
                reason = _SUBTYPES[subtype]
                if reason == "contenterror" and "spam" in diag.lower():
                    reason = "spamdetected"
            elif btype == "Permanent":
                # SES calls it permanent: the address, unless the text says otherwise.
                reason = detect_reason(status, diag, "userunknown")
                if subtype == "NoEmail" and reason in ("undefined", "onhold"):
                    reason = "userunknown"
                if not status:
                    status = "5.1.1" if reason == "userunknown" else "5.0.0"
            else:
                reason = detect_reason(status, diag)
            out.append(event(
                email, "bounce", make_key(PROVIDER, fid, email.lower()),
                reason=reason, smtp_status=status, reply=reply, diagnostic=diag, remote_mta=mta,
                severity=severity, gave_up=gave_up, occurred_at=when, original_message_id=original, **base,
            ))
    elif kind == "Complaint":
        complaint = obj.get("complaint")
        if not isinstance(complaint, Mapping):
            raise ProviderEventError("SES Complaint without a complaint object")
        fid = complaint.get("feedbackId") or f"{ses_id}:{complaint.get('timestamp')}"
        ftype = complaint.get("complaintFeedbackType")
        for item in _recipients(complaint.get("complainedRecipients")):
            email = clean_email(item.get("emailAddress"))
            if email:
                out.append(event(
                    email, "complaint", make_key(PROVIDER, fid, email.lower()), reason="feedback",
                    feedback_type=str(ftype) if ftype else None,
                    diagnostic=str(complaint.get("userAgent") or ""),
                    occurred_at=event_time(complaint.get("timestamp")), original_message_id=original, **base,
                ))
    elif kind == "Delivery":
        delivery = obj.get("delivery") if isinstance(obj.get("delivery"), Mapping) else {}
        when = delivery.get("timestamp") or mail.get("timestamp")
        for raw in _addresses(delivery.get("recipients") or mail.get("destination")):
            email = clean_email(raw)
            if email:
                diag = str(delivery.get("smtpResponse") or "")
                status, reply = split_status(diag)
                out.append(event(
                    email, "delivered", make_key(PROVIDER, ses_id, "delivery", email.lower()),
                    reason="delivered", smtp_status=status, reply=reply, diagnostic=diag,
                    remote_mta=str(delivery.get("reportingMTA") or ""),
                    occurred_at=event_time(when), original_message_id=original, **base,
                ))
    elif kind == "DeliveryDelay":
        delay = obj.get("deliveryDelay")
        if not isinstance(delay, Mapping):
            raise ProviderEventError("SES DeliveryDelay without a deliveryDelay object")
        when = delay.get("timestamp")
        for item in _recipients(delay.get("delayedRecipients")):
            email = clean_email(item.get("emailAddress"))
            if email:
                diag = str(item.get("diagnosticCode") or "")
                status, reply = split_status(item.get("status"), diag)
                reason = _DELAYS.get(str(delay.get("delayType")), "") or detect_reason(status, diag)
                out.append(event(
                    email, "delay", make_key(PROVIDER, ses_id, "delay", when, email.lower()),
                    reason=reason, smtp_status=status, reply=reply, diagnostic=diag,
                    remote_mta=str(delay.get("reportingMTA") or ""),
                    occurred_at=event_time(when), original_message_id=original, **base,
                ))
    elif kind in ("Open", "Click"):
        # A click proves the message was opened even when images (the open pixel) were blocked.
        detail = obj.get(kind.lower()) if isinstance(obj.get(kind.lower()), Mapping) else {}
        when = detail.get("timestamp")
        for raw in _addresses(mail.get("destination")):
            email = clean_email(raw)
            if email:
                out.append(event(
                    email, "open", make_key(PROVIDER, ses_id, kind.lower(), when, email.lower()),
                    reason="", occurred_at=event_time(when), original_message_id=original, **base,
                ))
    # Send, Reject, Rendering Failure, Subscription: nothing about the recipient's address.
    if not out:
        # an event about recipients that names none we can read: set aside, not counted as untracked
        raise ProviderEventError(f"SES {kind} names no recipient address")
    return out
