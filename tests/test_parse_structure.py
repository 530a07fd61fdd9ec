"""Structural rules of the mail parser, each on a small synthetic message.

The corpus test measures accuracy; these pin down the general rules behind
it (so a change that breaks one is seen at once, with a readable failure):
broken MIME, DSN field order, mbox files holding several reports, Exim's
X-Failed-Recipients, sender-labelled addresses in free text.
"""

from __future__ import annotations

from ingest.dsn import parse_delivery_status
from ingest.mime import parse_headers, parse_message, split_mbox
from ingest.parse import parse_bytes


def _addresses(data: bytes) -> list[str]:
    return [r.address for r in parse_bytes(data).recipients]


def test_boundary_parameter_on_an_unindented_line_still_splits_the_multipart() -> None:
    msg = (
        b"From: postmaster@example.net\nTo: us@example.com\nSubject: Re: hello\n"
        b"Content-Type: multipart/alternative;\nboundary=\"b1\"\n\n"
        b"--b1\nContent-Type: text/plain\n\nError message below:\n550 no such user here\n\n"
        b"  RCPT TO: gone@example.org\n--b1--\n"
    )
    root = parse_message(msg)
    assert root.params["boundary"] == "b1" and len(root.children) == 1
    parsed = parse_bytes(msg)
    assert parsed.kind == "bounce"
    assert [(r.address, r.reply) for r in parsed.recipients] == [("gone@example.org", "550")]


def test_multipart_report_without_boundary_lines_is_read_as_text() -> None:
    msg = (
        b"From: MAILER-DAEMON@mx.example.edu\nTo: us@example.com\nSubject: Returned mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"never-used\"\n\n"
        b"   ----- Transcript of session follows -----\n554 mailbox unavailable\n\n"
        b"Reporting-MTA: dns; mx.example.edu\n\nFinal-Recipient: RFC822; a@example.edu\nAction: failed\nStatus: 5.5.0\n"
    )
    parsed = parse_bytes(msg)
    assert parsed.kind == "bounce"
    assert [(r.address, r.status, r.reply) for r in parsed.recipients] == [("a@example.edu", "5.5.0", "554")]


def test_dsn_fields_before_final_recipient_belong_to_it() -> None:
    report = parse_delivery_status(
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\nStatus: 5.1.1\nFinal-Recipient: rfc822; a@example.com\nAction: failed\n\n"
        "Action: failed\nStatus: 5.2.2\nOriginal-Recipient: rfc822;b@example.com\nFinal-Recipient: rfc822;b@example.com\n"
    )
    got = [(r.final, r.status, r.diagnostic, r.action) for r in report.recipients]
    assert got == [("a@example.com", "5.1.1", "550 5.1.1 no such user", "failed"), ("b@example.com", "5.2.2", "", "failed")]
    assert report.reporting_mta == "mx.example.com"


def test_source_routed_final_recipient_gives_way_to_the_original() -> None:
    msg = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: us@example.com\nSubject: Delivery failure\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Original-recipient: rfc822;user@example.net\nFinal-recipient: rfc822;@relay.example.net:user@server\n"
        b"Action: failed\nStatus: 5.2.0\nDiagnostic-code: smtp;522 5.2.0 Over quota\n--b--\n"
    )
    assert _addresses(msg) == ["user@example.net"]


def test_remote_status_in_the_diagnostic_beats_the_status_field() -> None:
    msg = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: us@example.com\nSubject: Returned mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Final-Recipient: RFC822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: SMTP; 550 5.7.1 IP address blacklisted by recipient\n--b--\n"
    )
    assert [r.status for r in parse_bytes(msg).recipients] == ["5.7.1"]


def test_mbox_file_with_two_reports_keeps_both() -> None:
    one = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: us@example.com\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"<%s>: host mx.example.org said: 550 5.1.1 no such user (in reply to RCPT TO command)\n"
    )
    data = (
        b"From MAILER-DAEMON  Thu Jul  2 12:05:05 2020\n" + one % b"a@example.org"
        + b"From double-bounce@example.net  Thu Jul  2 12:05:06 2020\n" + one % b"b@example.org"
    )
    assert len(split_mbox(data)) == 2
    assert _addresses(data) == ["a@example.org", "b@example.org"]
    # a body line that merely starts with "From " does not split a message
    assert len(split_mbox(b"From x@y  Thu Jul  2 12:05:05 2020\nSubject: s\n\nFrom here on, text.\n")) == 1


def test_x_failed_recipients_names_the_recipient_even_when_it_is_our_own_address() -> None:
    msg = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\nTo: list@example.net\n"
        b"X-Failed-Recipients: list@example.net\nAuto-Submitted: auto-replied\n"
        b"Subject: Mail delivery failed: returning message to sender\n\n"
        b"The following address(es) failed:\n\n  list@example.net\n"
        b"    SMTP error from remote mail server after RCPT TO:<list@example.net>:\n"
        b"    550 5.1.1 User unknown\n"
    )
    parsed = parse_bytes(msg)
    assert parsed.kind == "bounce"
    assert [(r.address, r.status) for r in parsed.recipients] == [("list@example.net", "5.1.1")]


def test_sender_labelled_addresses_in_a_report_are_not_recipients() -> None:
    msg = (
        b"From: postmaster@example.net\nTo: us@example.com\nSubject: Undeliverable\n\n"
        b"Error: Invalid user address\n550 Requested action not taken: no such user here\n\n"
        b"Message details:\n  MAIL FROM: us@example.com\n  RCPT TO: gone@example.net\n"
        b"  From: someone-else@example.com\n  Sender: other@example.com\n"
    )
    assert _addresses(msg) == ["gone@example.net"]


def test_null_sender_notice_without_bounce_markers_is_a_bounce() -> None:
    msg = (
        b"Return-Path: <>\nFrom: no-reply@mail.example.jp\nTo: us@example.com\nSubject: Mail\n\n"
        b"Your mail sent on: Thu, 29 Apr 2013\n     Could not be delivered to: <full@example.jp>\n     As their mailbox is full.\n"
    )
    parsed = parse_bytes(msg)
    assert parsed.kind == "bounce" and _addresses(msg) == ["full@example.jp"]


def test_loose_header_reading_only_joins_parameter_lines() -> None:
    headers = parse_headers("Content-Type: multipart/mixed;\nboundary=\"x\"\nSubject: s\nnot a header line\n", loose=True)
    assert headers == [("content-type", 'multipart/mixed; boundary="x"'), ("subject", "s")]
    assert parse_headers("A: 1\n  continued\nB:2") == [("a", "1 continued"), ("b", "2")]


def test_dsn_recipient_without_domain_takes_the_original_to() -> None:
    msg = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: us@example.com\nSubject: Returned mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Final-Recipient: RFC822; kijitora\nAction: failed\nStatus: 5.1.1\n\n"
        b"--b\nContent-Type: text/rfc822-headers\n\nFrom: us@example.com\nTo: Kiji <kijitora@example.net>\nSubject: hi\n--b--\n"
    )
    assert _addresses(msg) == ["kijitora@example.net"]
