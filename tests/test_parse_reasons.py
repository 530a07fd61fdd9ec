"""The reason rules (ingest/reasons.py, ingest/rhosts.py) on small synthetic diagnostics.

One case per rule: the status code alone, a phrase overriding a generic code,
the SMTP command deciding between a dead mailbox and the recipient's filter,
other languages, vendor tables chosen by domain, remote or reporting MTA.
"""

from __future__ import annotations

import pytest

from ingest.reasons import aligned, command_in, find_reason, fold
from ingest.rhosts import remote_host_in, rhost_class
from models.taxonomy import classify

CASES: list[tuple[str, str, str, str, dict[str, str], str]] = [
    # (status, reply, diagnostic, command, extra keyword arguments, expected reason)
    ("5.1.1", "550", "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in local recipient table",
     "RCPT", {}, "userunknown"),
    ("5.1.1", "552", "552 5.1.1 <a@example.org>: mailbox full", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "550", "550 User unknown", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 User unknown", "DATA", {}, "filtered"),
    ("5.2.1", "550", "550 5.2.1 <a@example.org>... User Unknown", "", {}, "filtered"),
    ("5.0.0", "550", "SMTP error from remote server after RCPT command: 550 no such user here", "", {}, "userunknown"),
    ("5.0.0", "552", "552 Postfach voll", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "552", "552 Boîte aux lettres pleine", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "550", "550 Utilisateur inconnu", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Usuario desconocido", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Benutzer unbekannt", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 存在しないユーザです", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Gebruiker onbekend", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Brukeren finnes ikke", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Okänd mottagare", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 Utente inesistente", "RCPT", {}, "userunknown"),
    ("5.0.0", "550", "550 收件人不存在", "RCPT", {}, "userunknown"),
    ("5.0.0", "552", "552 Postvak is vol", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "552", "552 Caixa postal cheia", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "552", "552 邮箱容量已满", "RCPT", {}, "mailboxfull"),
    ("5.0.0", "550", "550 Cuenta desactivada", "RCPT", {}, "suspend"),
    ("5.0.0", "550", "550 This account has been disabled or discontinued", "RCPT", {}, "suspend"),
    ("5.1.2", "550", "550 Host or domain name not found", "", {}, "hostunknown"),
    ("5.1.6", "550", "550 5.1.6 recipient no longer on server", "RCPT", {}, "hasmoved"),
    ("5.1.10", "550", "550 5.1.10 does not accept mail (nullMX)", "RCPT", {}, "notaccept"),
    ("5.7.1", "550", "550 5.7.1 <bounce@example.net>: Sender address rejected: Domain not found", "MAIL", {}, "rejected"),
    ("5.7.1", "554", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
     "RCPT", {}, "blocked"),
    ("5.7.25", "550", "550 5.7.25 Reverse DNS validation failed", "RCPT", {}, "requireptr"),
    ("5.7.26", "550", "550 5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", "DATA", {},
     "authfailure"),
    ("5.7.1", "550", "550 5.7.1 Message rejected as spam by Content Filtering.", "DATA", {}, "spamdetected"),
    ("5.7.0", "550", "550 5.7.0 Virus detected in the message", "DATA", {}, "virusdetected"),
    ("5.3.4", "552", "552 5.3.4 Error: message file too big", "DATA", {}, "mesgtoobig"),
    ("5.2.3", "552", "552 5.2.3 Message size exceeds fixed maximum message size", "DATA", {}, "exceedlimit"),
    ("4.7.0", "421", "421 4.7.0 Too many connections from your IP, closing", "", {}, "toomanyconn"),
    ("5.7.1", "554", "554 5.7.1 <a@example.org>: Relay access denied", "RCPT", {}, "norelaying"),
    ("4.4.1", "", "Connection timed out", "", {"action": "delayed"}, "expired"),
    ("", "503", "503 Bad sequence", "", {}, "syntaxerror"),
    ("5.0.0", "", "command died with status 1: procmail", "", {"diagnostic_type": "X-Unix"}, "mailererror"),
    ("5.0.0", "554", "554 Access refused", "HELO", {}, "blocked"),
    ("5.0.0", "", "Something odd happened", "", {}, "onhold"),
    ("5.0.0", "", "", "", {}, "undefined"),
    ("2.0.0", "250", "250 OK", "", {}, "delivered"),
    # the status says it; the generic text does not change it
    ("4.2.2", "452", "452 try later", "RCPT", {}, "mailboxfull"),
    ("4.0.0", "", "DNS Error: DNS type 'mx' lookup of example.invalid responded with code NXDOMAIN", "", {},
     "networkerror"),
    ("5.0.0", "550", "DNS Error: DNS type 'mx' lookup of example.invalid responded with code NXDOMAIN", "", {},
     "hostunknown"),
    # vendor tables, chosen by recipient domain, remote MTA or reporting MTA
    ("5.1.0", "550", "550 5.1.0 <b@example.net> sender rejected. AUP#CXBL", "MAIL", {"domain": "cox.net"}, "blocked"),
    ("5.1.0", "550", "550 5.1.0 <b@example.net> sender rejected. AUP#In-1310", "MAIL", {"domain": "charter.net"},
     "toomanyconn"),
    ("5.0.0", "550", "550 5.0.0 Mail rejete. Mail rejected. OFR_506 [506]", "DATA",
     {"remote_host": "dns; smtp.wanadoo.fr"}, "spamdetected"),
    ("5.0.0", "550", "550 5.0.0 RCP-P2 http://postmaster.facebook.com/response_codes?ip=192.0.2.1#rcp", "RCPT",
     {"domain": "facebook.com"}, "filtered"),
    ("5.7.1", "550", "550-5.7.1 This message does not have authentication information or fails to\n"
     "550-5.7.1 pass authentication checks. To best protect our users", "DATA",
     {"remote_host": "gmail-smtp-in.l.google.com"}, "authfailure"),
    ("5.4.316", "550", "550 5.4.316 Message expired, connection refused(Socket error code 10061)", "", {}, "expired"),
    ("5.4.312", "550", "550 5.4.312 Message expired, DNS query failed", "", {}, "networkerror"),
    ("5.5.0", "550", "550 Requested action not taken: mailbox unavailable", "", {"local_host": "dns; bay0.hotmail.com"},
     "userunknown"),
    ("5.0.0", "554", "554 delivery error: dd This user doesn't have a yahoo.com account (a@yahoo.com) [0]", "", {},
     "userunknown"),
    ("5.0.0", "550", "550 Unknown user a@docomo.ne.jp", "DATA", {"remote_host": "mfsmax.docomo.ne.jp"}, "rejected"),
    ("5.0.0", "550", "550 : User unknown", "", {"domain": "ezweb.ne.jp"}, "filtered"),
    ("5.0.0", "550", "Error: Invalid user address 550 - Requested action not taken: no such user here", "",
     {"domain": "vtext.com"}, "userunknown"),
    ("5.0.0", "550", "Error: Invalid user address 550 - Requested action not taken: no such user here", "",
     {"domain": "example.com"}, "filtered"),
    ("5.0.0", "550", "550 <a@ezweb.ne.jp>: User unknown", "", {"domain": "ezweb.ne.jp"}, "userunknown"),
    ("5.1.1", "550", "550 5.1.1 <a@example.com> - 192.0.2.1 has sent to too many recipients this hour. IB607", "RCPT",
     {"remote_host": "smtp.secureserver.net"}, "speeding"),
    ("5.4.4", "", "Name service error for name=example.org type=MX: Malformed or unexpected name server reply", "",
     {"local_host": "dns; omr-a015e.mx.aol.com"}, "notaccept"),
    ("5.4.4", "", "Name service error for name=example.org type=MX: Malformed or unexpected name server reply", "",
     {"local_host": "dns; mx.example.jp"}, "networkerror"),
    ("5.0.0", "542", "542 a@example.com Rejected", "", {"local_host": "server-00.bemta-0.messagelabs.com"},
     "userunknown"),
    # a fixed sentence in the report's prose names the problem when the SMTP answer is generic
    ("5.0.0", "550", "550 user unknown (in reply to RCPT TO command)", "RCPT",
     {"context": "The user(s) account is disabled."}, "suspend"),
]


@pytest.mark.parametrize(("status", "reply", "diag", "command", "extra", "expected"), CASES)
def test_reason(status: str, reply: str, diag: str, command: str, extra: dict[str, str], expected: str) -> None:
    assert find_reason(status, reply, diag, command=command, **extra) == expected


def test_hard_only_for_dead_addresses_with_permanent_codes() -> None:
    unknown = find_reason("5.1.1", "550", "550 5.1.1 User unknown", command="RCPT")
    filtered = find_reason("5.0.0", "550", "550 User unknown", command="DATA")
    assert classify("bounce", unknown, "5.1.1", "550").severity == "hard"
    assert classify("bounce", filtered, "5.0.0", "550").severity == "soft"
    assert classify("bounce", unknown, "4.1.1", "450").severity == "soft"


def test_gave_up_after_temporary_failures_is_expired_and_soft() -> None:
    reason = find_reason("4.0.0", "", "temporary error", gave_up=True)
    assert reason == "expired"
    assert classify("bounce", reason, "4.0.0", "", gave_up=True).severity == "soft"


def test_aligned_needs_the_parts_in_order() -> None:
    assert aligned("this user doesn't have a yahoo.com account", ("this user doesn't have a ", " account"))
    assert not aligned("account: this user doesn't have a", ("this user doesn't have a ", " account"))
    assert not aligned("<" * 10_000, ("<", "> not found"))


def test_fold_drops_repeated_reply_codes_of_multiline_answers() -> None:
    assert fold("550-5.7.1 fails to\n550-5.7.1 pass  checks\n550 5.7.1 end") == "550-5.7.1 fails to pass checks end"


def test_command_and_remote_host_found_in_text() -> None:
    assert command_in("SMTP error from remote server after RCPT command: 550 no") == "RCPT"
    assert command_in("SMTP error from remote mail server after MAIL FROM:<a@b>") == "MAIL"
    assert command_in("550 rejected (in reply to end of DATA command)") == "DATA"
    assert command_in("550 message data rejected by database.example.com") == ""  # prose and host names
    assert command_in("Connected to 192.0.2.1 but sender was rejected.") == "MAIL"
    assert remote_host_in("<a@b.c>: host mx.example.com[192.0.2.1] said: 550 no") == "mx.example.com"
    assert remote_host_in("SMTP error from remote server for TEXT command, host: smtp-in.orange.fr (193.252.22.65)") == (
        "smtp-in.orange.fr"
    )
    assert command_in("SMTP error from remote server for TEXT command, host: smtp-in.orange.fr") == "DATA"


def test_vendor_chosen_by_domain_boundary_not_substring() -> None:
    assert rhost_class("cox.net", "") == "cox"
    assert rhost_class("aol.com", "") == "aol"
    assert rhost_class("mail.com", "") == ""  # not ".mail.aol.com"
    assert rhost_class("example.org", "dns; mx1.example.mimecast.com") == "mimecast"


def test_gmail_state_gives_the_stage_and_defers_to_a_precise_status() -> None:
    tls = "Google tried to deliver your message ... 500 Remote server does not support TLS (state 6)."
    assert find_reason("5.0.0", "500", tls) == "failedstarttls"
    unknown = "The error that the other server returned was: 550 550 Unknown user a@example.jp (state 18)."
    assert find_reason("5.0.0", "550", unknown) == "filtered"
    full = "The error that the other server returned was: 550 550 5.2.2 <a@example.jp>... Mailbox Full (state 14)."
    assert find_reason("5.2.2", "550", full) == "mailboxfull"


def test_qmail_session_stage_is_the_command() -> None:
    diag = "Remote host said: 550 5.7.1 <root@example.jp>... Access denied"
    assert find_reason("5.7.1", "550", diag, context="Connected to 192.0.2.1 but sender was rejected.") == "rejected"
    assert find_reason("5.0.0", "550", "192.0.2.1 does not like recipient. Remote host said: 550 no such user") == (
        "userunknown"
    )
    deferred = "Remote host said: 421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to " \
        "unexpected volume or user complaints"
    assert find_reason("4.7.0", "421", deferred, context="Connected to 192.0.2.1 but sender was rejected.") == (
        "badreputation"
    )


def test_answer_status_preferred_over_generic_or_contradicted_field() -> None:
    from ingest.reasons import prefer_status

    assert prefer_status("5.0.0", "5.1.1", "550") == "5.1.1"
    assert prefer_status("5.1.1", "5.7.1", "550") == "5.7.1"  # the answer says blocked, not unknown
    assert prefer_status("5.1.1", "5.1.0", "550") == "5.1.1"
    assert prefer_status("4.4.7", "4.2.2", "452") == "4.2.2"
    assert prefer_status("5.2.2", "4.2.2", "552") == "5.2.2"  # the reply class decides between classes
    assert prefer_status("", "5.1.1", "") == "5.1.1"
    assert find_reason("5.1.1", "550", "550 5.7.1 IP address blacklisted by recipient", command="RCPT") == "blocked"


def test_orange_refusal_without_a_known_code_is_blocked() -> None:
    diag = "550 5.5.0 Service refuse. Veuillez essayer plus tard. service refused, please try later. LPN001_108"
    assert find_reason("5.5.0", "550", diag, remote_host="smtp-in.laposte.net") == "blocked"
    assert find_reason("5.0.0", "550", "550 Mail rejete. Mail rejected. OFR_506 [506]", domain="orange.fr") == (
        "spamdetected"
    )


def test_report_prose_speaks_only_through_report_level_sentences() -> None:
    prose = "a@example.org: 550 5.1.1 user unknown\nb@example.org: 552 mailbox is full"
    assert find_reason("5.1.1", "550", "550 5.1.1 <a@example.org>... User unknown", command="RCPT",
                       context=prose) == "userunknown"


def test_product_sentence_needs_the_product_marker() -> None:
    line = "Reason:  Unable to deliver message to <a@example.jp> (and other recipients in the same domain)."
    prose = "****** Message from InterScan Messaging Security Suite ******\n" + line
    assert find_reason("5.0.0", "", line, context=prose) == "userunknown"
    assert find_reason("5.0.0", "", line, context="The following mail could not be delivered.") == "onhold"


def test_every_reason_the_rules_can_give_is_in_the_taxonomy() -> None:
    from ingest import reasons, rhosts
    from models.taxonomy import REASONS

    given = set(reasons.PHRASES) | set(reasons.STATUS_REASONS.values())
    given |= {r for _, r, _ in reasons.VENDOR + reasons.REPORT_SENTENCES}
    given |= {r for _, _, r in reasons.PRODUCT_SENTENCES}
    given |= {r for _, r in reasons._GMAIL_STATES.values() if r}
    for table in (rhosts._COX_CODES, rhosts._FRANCEPTT_CODES, rhosts._FACEBOOK_CODES, rhosts._GODADDY_CODES):
        given |= set(table.values())
    for table in (rhosts._COX_TEXT, rhosts._YAHOO_TEXT, rhosts._MESSAGELABS_TEXT, rhosts._TENCENT_TEXT,
                  rhosts._GODADDY_TEXT, rhosts._APPLE_TEXT):
        given |= set(table)
    given |= {r for *_, r in rhosts._SPECTRUM_RANGES} | {r for *_, r in rhosts._MIMECAST}
    given |= {r for *_, r in rhosts._GOOGLE} | {r for *_, r in rhosts._MICROSOFT}
    assert given - set(REASONS) == set()


@pytest.mark.parametrize("text", ["", "\x00" * 50, "550 " * 2000, "<" * 5000 + "mailbox ", "(state 99) 5.7.1 " * 300])
def test_odd_input_gives_a_reason(text: str) -> None:
    from models.taxonomy import REASONS

    assert find_reason("5.0.0", "550", text, context=text, domain="cox.net", remote_host=text[:50]) in REASONS
