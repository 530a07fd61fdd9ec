"""Provider event importers and the event-file reader (pure: no database)."""

from __future__ import annotations

import io
import json

import pytest

from ingest.providers import PROVIDERS, ProviderEventError, to_events
from ingest.providers.reader import read_events
from models.taxonomy import classify


def labels(ev):
    """kind, reason and the severity the rules will give it."""
    c = classify(ev.kind, ev.reason, ev.smtp_status, ev.reply, gave_up=ev.gave_up)
    return ev.kind, ev.reason, ev.severity or c.severity


SES_BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "feedbackId": "0100017c-bounce-1",
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {"emailAddress": "jane@example.com", "action": "failed", "status": "5.1.1",
             "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
            {"emailAddress": "\"Rich\" <richard@example.com>", "action": "failed", "status": "5.0.0",
             "diagnosticCode": "smtp; 550 5.0.0 message rejected as spam"},
        ],
        "timestamp": "2016-01-27T14:59:38.237Z",
        "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        "someFutureField": {"ignored": True},
    },
    "mail": {
        "timestamp": "2016-01-27T14:59:37.000Z",
        "messageId": "0000014644fe5ef6-9a483358-9170",
        "source": "sender@example.org",
        "destination": ["jane@example.com", "richard@example.com"],
        "headers": [{"name": "X-Bouncedesk-Mailing", "value": "spring-2024"},
                    {"name": "Message-ID", "value": "<abc@example.org>"}],
    },
}


def test_ses_bounce_per_recipient_with_links():
    evs = to_events("ses", SES_BOUNCE, source="f.json:1")
    assert [e.email for e in evs] == ["jane@example.com", "richard@example.com"]
    assert labels(evs[0]) == ("bounce", "userunknown", "hard")
    assert evs[0].reply == "550" and evs[0].smtp_status == "5.1.1"
    assert labels(evs[1]) == ("bounce", "spamdetected", "soft")
    assert evs[0].mailing_code == "spring-2024"
    assert evs[0].original_message_id == "<abc@example.org>"
    assert evs[0].dedupe_key != evs[1].dedupe_key
    assert evs[0].dedupe_key.startswith("ses:0100017c-bounce-1:")
    assert evs[0].occurred_at.isoformat() == "2016-01-27T14:59:38.237000"
    assert evs[0].source == "f.json:1" and evs[0].provider == "ses"


@pytest.mark.parametrize(
    ("btype", "subtype", "expected"),
    [
        ("Permanent", "Suppressed", ("bounce", "suppressed", "suppressed")),
        ("Permanent", "OnAccountSuppressionList", ("bounce", "suppressed", "suppressed")),
        ("Transient", "MailboxFull", ("bounce", "mailboxfull", "soft")),
        ("Transient", "MessageTooLarge", ("bounce", "mesgtoobig", "soft")),
        ("Transient", "ContentRejected", ("bounce", "contenterror", "soft")),
        ("Transient", "General", ("bounce", "undefined", "soft")),
        ("Undetermined", "Undetermined", ("bounce", "undefined", "soft")),
        ("Permanent", "NoEmail", ("bounce", "userunknown", "hard")),
    ],
)
def test_ses_bounce_subtypes(btype, subtype, expected):
    obj = {"notificationType": "Bounce", "mail": {"messageId": "m1"},
           "bounce": {"bounceType": btype, "bounceSubType": subtype, "feedbackId": "f1",
                      "bouncedRecipients": [{"emailAddress": "a@example.com"}]}}
    (ev,) = to_events("ses", obj)
    assert labels(ev) == expected


def test_ses_transient_never_hard_even_with_5xx_unknown_user():
    obj = {"notificationType": "Bounce", "mail": {"messageId": "m1"},
           "bounce": {"bounceType": "Transient", "bounceSubType": "General", "feedbackId": "f1",
                      "bouncedRecipients": [{"emailAddress": "a@example.com", "status": "5.1.1"}]}}
    (ev,) = to_events("ses", obj)
    assert labels(ev)[2] == "soft"


def test_ses_complaint_delivery_delay_open_and_sns_envelope():
    complaint = {"notificationType": "Complaint", "mail": {"messageId": "m2", "destination": ["x@example.com"]},
                 "complaint": {"feedbackId": "c1", "complaintFeedbackType": "abuse", "timestamp": "2024-01-01T00:00:00Z",
                               "complainedRecipients": [{"emailAddress": "x@example.com"}]}}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:t",
                "Message": json.dumps(complaint), "Timestamp": "2024-01-01T00:00:01Z"}
    items = list(read_events(io.StringIO(json.dumps(envelope) + "\n")))
    assert items[0].error is None
    (ev,) = to_events("ses", items[0].event)
    assert (ev.kind, ev.feedback_type, ev.reason) == ("complaint", "abuse", "feedback")
    # the bare object and the SNS-wrapped one have the same key
    assert to_events("ses", complaint)[0].dedupe_key == ev.dedupe_key

    delivery = {"eventType": "Delivery", "mail": {"messageId": "m3", "destination": ["d@example.com"]},
                "delivery": {"timestamp": "2024-01-01T00:00:00Z", "recipients": ["d@example.com"],
                             "smtpResponse": "250 2.6.0 Message received"}}
    (ev,) = to_events("ses", delivery)
    assert ev.kind == "delivered" and ev.email == "d@example.com"
    delay = {"eventType": "DeliveryDelay", "mail": {"messageId": "m4"},
             "deliveryDelay": {"delayType": "MailboxFull", "timestamp": "2024-01-01T00:00:00Z",
                               "delayedRecipients": [{"emailAddress": "q@example.com", "status": "4.2.2"}]}}
    (ev,) = to_events("ses", delay)
    assert labels(ev) == ("delay", "mailboxfull", "pending")
    opened = {"eventType": "Open", "mail": {"messageId": "m5", "destination": ["o@example.com"]},
              "open": {"timestamp": "2024-01-01T00:00:00Z"}}
    assert [e.kind for e in to_events("ses", opened)] == ["open"]
    assert to_events("ses", {"eventType": "Send", "mail": {"messageId": "m6"}}) == []


MAILGUN_FAILED = {
    "signature": {"timestamp": "1529006854", "token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
                  "signature": "d2271d12299f6592d9d44cd9d250f0704e4674c30d79d07c47a66f95ce71cf55"},
    "event-data": {
        "event": "failed", "id": "CPgfbmQMTCKtHW6uIWtuVe", "timestamp": 1521472262.908181,
        "severity": "permanent", "reason": "bounce", "recipient": "alice@example.com",
        "delivery-status": {"code": 550, "message": "5.1.1 The email account that you tried to reach does not exist",
                            "description": "", "attempt-no": 1, "mx-host": "mx.example.com"},
        "message": {"headers": {"message-id": "20130503182626.18666.16540@example.org",
                                "to": "Alice <alice@example.com>"}},
        "user-variables": {"mailing": "m-42", "recipient_token": "tok42"},
        "flags": {"is-routed": False},
    },
}


def test_mailgun_failed_permanent():
    (ev,) = to_events("mailgun", MAILGUN_FAILED)
    assert labels(ev) == ("bounce", "userunknown", "hard")
    assert ev.dedupe_key == "mailgun:a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    assert (ev.reply, ev.smtp_status, ev.remote_mta) == ("550", "5.1.1", "mx.example.com")
    assert (ev.mailing_code, ev.verp_token) == ("m-42", "tok42")
    assert ev.original_message_id == "<20130503182626.18666.16540@example.org>"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"severity": "temporary", "reason": "greylisted",
          "delivery-status": {"code": 451, "message": "4.7.1 greylisted, try again"}}, ("delay", None, "pending")),
        ({"reason": "suppress-bounce", "delivery-status": {"code": 605, "message": "Not delivering to previously bounced address"}},
         ("bounce", "suppressed", "suppressed")),
        ({"reason": "old", "delivery-status": {"code": 450, "message": "mailbox full"}},
         ("bounce", "mailboxfull", "soft")),
        ({"reason": "bounce", "delivery-status": {"code": 554, "message": "5.7.1 Message rejected as spam"}},
         ("bounce", "spamdetected", "soft")),
    ],
)
def test_mailgun_failed_variants(changes, expected):
    data = {**MAILGUN_FAILED["event-data"], **changes}
    (ev,) = to_events("mailgun", {"event-data": data})
    got = labels(ev)
    assert (got[0], got[2]) == (expected[0], expected[2])
    if expected[1]:
        assert got[1] == expected[1]
    # no signature: keyed on id + timestamp
    assert ev.dedupe_key == "mailgun:CPgfbmQMTCKtHW6uIWtuVe:1521472262.908181"


def test_mailgun_other_events():
    base = {"id": "x", "timestamp": 1.0, "recipient": "b@example.com"}
    kinds = {name: [e.kind for e in to_events("mailgun", {"event-data": {**base, "event": name}})]
             for name in ("complained", "unsubscribed", "delivered", "opened", "clicked", "accepted")}
    assert kinds == {"complained": ["complaint"], "unsubscribed": ["unsubscribe"], "delivered": ["delivered"],
                     "opened": ["open"], "clicked": ["open"], "accepted": []}
    with pytest.raises(ProviderEventError):
        to_events("mailgun", {"event-data": {"event": "failed", "id": "y"}})


def test_sendgrid_events():
    batch = [
        {"email": "a@example.com", "timestamp": 1513299569, "event": "bounce", "sg_event_id": "sg1",
         "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
         "bounce_classification": "Invalid Address", "mailing": "m-7", "category": ["cat facts"]},
        {"email": "b@example.com", "timestamp": 1513299569, "event": "bounce", "sg_event_id": "sg2",
         "type": "blocked", "status": "5.7.1", "reason": "550 5.7.1 Service unavailable; client host blocked using Spamhaus",
         "bounce_classification": "Reputation"},
        {"email": "c@example.com", "timestamp": 1513299569, "event": "dropped", "sg_event_id": "sg3",
         "reason": "Bounced Address"},
        {"email": "d@example.com", "timestamp": 1513299569, "event": "deferred", "sg_event_id": "sg4",
         "response": "400 try again later", "attempt": "5"},
        {"email": "e@example.com", "timestamp": 1513299569, "event": "spamreport", "sg_event_id": "sg5"},
        {"email": "f@example.com", "timestamp": 1513299569, "event": "delivered", "sg_event_id": "sg6",
         "response": "250 OK"},
        {"email": "g@example.com", "timestamp": 1513299569, "event": "open", "sg_event_id": "sg7"},
        {"email": "h@example.com", "timestamp": 1513299569, "event": "group_unsubscribe", "sg_event_id": "sg8"},
        {"email": "i@example.com", "timestamp": 1513299569, "event": "processed", "sg_event_id": "sg9"},
    ]
    items = list(read_events(io.StringIO(json.dumps(batch))))
    assert [i.position for i in items][:2] == ["line 1 item 1", "line 1 item 2"]
    evs = [e for i in items for e in to_events("sendgrid", i.event)]
    got = [labels(e) for e in evs]
    assert got[0] == ("bounce", "userunknown", "hard")
    assert got[1][0] == "bounce" and got[1][2] == "soft" and got[1][1] in ("blocked", "badreputation")
    assert got[2] == ("bounce", "suppressed", "suppressed")
    assert got[3][0] == "delay" and got[3][2] == "pending"
    assert [e.kind for e in evs[4:]] == ["complaint", "delivered", "open", "unsubscribe"]
    assert evs[0].mailing_code == "m-7" and evs[0].dedupe_key == "sendgrid:sg1"


@pytest.mark.parametrize(
    ("ptype", "expected"),
    [
        ("HardBounce", ("bounce", "userunknown", "hard")),
        ("BadEmailAddress", ("bounce", "userunknown", "hard")),
        ("SoftBounce", ("bounce", "mailboxfull", "soft")),
        ("Transient", ("delay", "mailboxfull", "pending")),
        ("DnsError", ("bounce", "networkerror", "soft")),
        ("SpamNotification", ("bounce", "spamdetected", "soft")),
        ("Blocked", ("bounce", "blocked", "soft")),
        ("DMARCPolicy", ("bounce", "authfailure", "soft")),
        ("ManuallyDeactivated", ("bounce", "suppressed", "suppressed")),
        ("AutoResponder", ("autoreply", "vacation", None)),
        ("TemplateRenderingFailed", ("other", "", None)),
    ],
)
def test_postmark_bounce_types(ptype, expected):
    details = {"HardBounce": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
               "SoftBounce": "smtp;452 4.2.2 mailbox full", "Transient": "mailbox full, will retry"}
    obj = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": ptype, "TypeCode": 1,
           "Email": "john@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z",
           "Details": details.get(ptype, ""), "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
           "Metadata": {"mailing": "m-9"}, "Inactive": True}
    (ev,) = to_events("postmark", obj)
    assert labels(ev) == expected
    assert ev.dedupe_key == "postmark:4323372036854775807" and ev.mailing_code == "m-9"


def test_postmark_complaint_delivery_open_subscription():
    assert to_events("postmark", {"RecordType": "SpamComplaint", "ID": 1, "Type": "SpamComplaint",
                                  "Email": "a@example.com"})[0].kind == "complaint"
    d = to_events("postmark", {"RecordType": "Delivery", "MessageID": "m", "Recipient": "a@example.com",
                               "DeliveredAt": "2019-11-05T16:33:54Z"})
    o = to_events("postmark", {"RecordType": "Open", "MessageID": "m", "Recipient": "a@example.com",
                               "ReceivedAt": "2019-11-05T16:34:54Z"})
    assert (d[0].kind, o[0].kind) == ("delivered", "open") and d[0].dedupe_key != o[0].dedupe_key
    u = to_events("postmark", {"RecordType": "SubscriptionChange", "MessageID": "m", "Recipient": "a@example.com",
                               "SuppressSending": True, "SuppressionReason": "ManualSuppression",
                               "ChangedAt": "2019-11-05T16:34:54Z"})
    assert u[0].kind == "unsubscribe"
    assert to_events("postmark", {"RecordType": "SubscriptionChange", "Recipient": "a@example.com",
                                  "SuppressSending": False}) == []


def test_every_provider_rejects_non_events():
    for name in PROVIDERS:
        with pytest.raises(ProviderEventError):
            to_events(name, {"hello": "world"})


def test_reader_positions_and_errors():
    text = (
        '{"a": 1}\n'
        "\n"
        "not json at all\n"
        '{"b": 2, "broken": \n'
        '{"c": 3}\n'
        "[1, {\"d\": 4}]\n"
        "{\n"
        '  "pretty": true,\n'
        '  "nested": {"x": 1}\n'
        "}\n"
        '{"Type": "SubscriptionConfirmation", "TopicArn": "t", "Message": "hi"}\n'
        '{"Type": "Notification", "TopicArn": "t", "Message": "{not json"}\n'
    )
    items = list(read_events(io.StringIO(text)))
    summary = [(i.position, bool(i.error), dict(i.event) if i.event else None) for i in items]
    assert summary == [
        ("line 1", False, {"a": 1}),
        ("line 3", True, None),
        ("line 4", True, None),
        ("line 5", False, {"c": 3}),
        ("line 6 item 1", True, None),
        ("line 6 item 2", False, {"d": 4}),
        ("line 7", False, {"pretty": True, "nested": {"x": 1}}),
        ("line 12", True, None),
    ]
    assert "not JSON" in items[1].error and items[1].raw == "not json at all"
    assert "SNS Message is not JSON" in items[-1].error


def test_reader_pretty_printed_array():
    batch = [{"event": "open", "email": f"u{i}@example.com", "sg_event_id": str(i)} for i in range(3)]
    items = list(read_events(io.StringIO(json.dumps(batch, indent=2) + "\n")))
    assert [i.event["sg_event_id"] for i in items] == ["0", "1", "2"]
    assert [i.position for i in items] == ["line 1 item 1", "line 1 item 2", "line 1 item 3"]


def test_reader_unclosed_document_at_end():
    items = list(read_events(io.StringIO('{"a": 1}\n{\n  "b": 2\n')))
    assert items[0].event == {"a": 1}
    assert items[1].error and items[1].line == 2
