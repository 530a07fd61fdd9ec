"""Vendor tables: the reason as the receiving provider documents its own answers.

Large providers answer with their own codes (Cox ``AUP#CXBL``, Spectrum
``AUP#I-1310``, Orange ``OFR_506``, Facebook ``RCP-P2``) or fixed sentences,
whose meaning their postmaster pages give; those are trusted before the
generic phrase lists of ``ingest.reasons``.  The provider is recognised by the
recipient's domain or by the remote MTA's host name.

Ported from the remote-host tables of the Sisimai bounce parser
(lib/sisimai/rhost/*, BSD 2-Clause License, see ``NOTICE``).  All text given
to these functions is already lower-cased with folded white space.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Final

#: provider -> host name suffixes (of the remote MTA, or the recipient domain itself).
RHOST_CLASSES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("aol", (".mail.aol.com", ".mx.aol.com")),
    ("apple", (".mail.icloud.com", ".apple.com", ".me.com")),
    ("cox", ("cox.net",)),
    ("facebook", (".facebook.com",)),
    ("franceptt", (".laposte.net", ".orange.fr", ".wanadoo.fr")),
    ("godaddy", ("smtp.secureserver.net", "mailstore1.secureserver.net")),
    ("google", ("aspmx.l.google.com", "gmail-smtp-in.l.google.com")),
    ("gsuite", ("googlemail.com",)),
    ("kddi", (".ezweb.ne.jp", "msmx.au.com")),
    ("messagelabs", (".messagelabs.com",)),
    ("microsoft", (".prod.outlook.com", ".protection.outlook.com", ".onmicrosoft.com", ".exchangelabs.com")),
    ("mimecast", (".mimecast.com",)),
    ("nttdocomo", ("mfsmax.docomo.ne.jp",)),
    ("outlook", (".hotmail.com",)),
    ("spectrum", ("charter.net",)),
    ("tencent", (".qq.com",)),
    ("verizon", (".vtext.com", ".vzwpix.com")),
    ("yahooinc", (".yahoodns.net",)),
)


@lru_cache(maxsize=4096)
def rhost_class(domain: str, remote_host: str, local_host: str = "") -> str:
    """The provider whose table applies: by recipient domain, else remote MTA name, else reporting MTA name."""
    if domain:
        for name, suffixes in RHOST_CLASSES:
            for s in suffixes:
                s = s.lstrip(".")
                if s == domain or s.endswith("." + domain):
                    return name
    for value in (remote_host, local_host):
        host = value.rpartition(";")[2].strip()  # "dns; mx.example.com"
        host = host.split()[0].rstrip(".").lower() if host else ""
        if not host:
            continue
        for name, suffixes in RHOST_CLASSES:
            if any(host.endswith(s) for s in suffixes):
                return name
    return ""


def _first_phrase(text: str, table: dict[str, tuple[str, ...]]) -> str:
    for reason in sorted(table):
        if any(p in text for p in table[reason]):
            return reason
    return ""


# --- Cox (https://www.cox.com/residential/support/email-error-codes.html) -----------------------

_COX_CODES: Final[dict[str, str]] = {
    "CXBL": "blocked", "CXDNS": "requireptr", "CXSNDR": "authfailure", "CXSMTP": "rejected", "CXCNCT": "toomanyconn",
    "CXMXRT": "toomanyconn", "CDRBL": "blocked", "CXTHRT": "securityerror", "CXMJ": "securityerror",
    "IPBL0001": "blocked", "IPBL0010": "blocked", "IPBL0100": "blocked", "IPBL0011": "blocked", "IPBL0101": "blocked",
    "IPBL0110": "blocked", "IPBL0111": "blocked", "IPBL1000": "blocked", "IPBL1001": "blocked", "IPBL1010": "blocked",
    "IPBL1011": "blocked", "IPBL1100": "blocked", "IPBL1101": "blocked", "IPBL1110": "blocked", "IPBL1111": "blocked",
    "IPBL00001": "blocked", "URLBL011": "spamdetected", "URLBL101": "spamdetected", "URLBL110": "spamdetected",
    "URLBL1001": "spamdetected",
}
_COX_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "blocked": ("cox too many bad commands from", "too many invalid recipients"),
    "requireptr": ("dns check failure - try again later", "rejected - no rdns"),
    "policyviolation": ("esmtp no data before greeting", "attachment extension is forbidden"),
    "rejected": ("sender rejected",),
    "systemerror": ("esmtp server temporarily not available",),
    "toomanyconn": ("too many sessions from", "requested action aborted: try again later", "message threshold exceeded"),
    "userunknown": ("recipient rejected",),
}
_AUP_RE = re.compile(r"aup#([a-z]{0,3})-?([a-z0-9]{1,12})")


def _cox(status: str, reply: str, text: str, command: str) -> str:
    m = _AUP_RE.search(text)
    if m:
        reason = _COX_CODES.get((m.group(1) + m.group(2)).upper()) or _COX_CODES.get(m.group(2).upper())
        if reason:
            return reason
    return _first_phrase(text, _COX_TEXT)


# --- Spectrum (https://www.spectrumbusiness.net/support/internet/understanding-email-error-codes) --

_SPECTRUM_RANGES: Final[tuple[tuple[int, int, str], ...]] = (
    (1000, 1000, "blocked"), (1010, 1010, "rejected"), (1020, 1080, "rejected"), (1090, 1090, "systemerror"),
    (1100, 1150, "requireptr"), (1160, 1190, "policyviolation"), (1200, 1210, "blocked"), (1220, 1250, "blocked"),
    (1260, 1260, "networkerror"), (1300, 1340, "toomanyconn"), (1350, 1490, "speeding"), (1500, 1500, "rejected"),
    (1520, 1520, "rejected"), (1530, 1530, "mesgtoobig"), (1540, 1540, "speeding"), (1550, 1550, "speeding"),
    (1560, 1560, "policyviolation"), (1580, 1580, "speeding"),
)
_SPECTRUM_RE = re.compile(r"aup#[a-z]{0,3}-?(\d{4})")


def _spectrum(status: str, reply: str, text: str, command: str) -> str:
    m = _SPECTRUM_RE.search(text)
    if not m:
        return ""
    code = int(m.group(1))
    for lo, hi, reason in _SPECTRUM_RANGES:
        if lo <= code <= hi:
            return reason
    return ""


# --- Orange / La Poste (https://www.postmastery.com/orange-postmaster-smtp-error-codes-ofr/) -----

_FRANCEPTT_CODES: Final[dict[str, str]] = {
    "101": "blocked", "102": "blocked", "103": "blocked", "104": "toomanyconn", "305": "securityerror",
    "401": "authfailure", "402": "securityerror", "403": "rejected", "405": "rejected", "415": "rejected",
    "416": "userunknown", "417": "mailboxfull", "420": "suspend", "421": "rejected", "426": "suspend",
    "505": "systemerror", "506": "spamdetected", "510": "blocked", "514": "mesgtoobig", "517": "authfailure",
    "630": "policyviolation", "999": "blocked",
}
_FRANCEPTT_RE = re.compile(r"(?:lpnaaa|lpn|ofr|ouk)[-_]?\d{0,3}[-_]?(\d{3})\b")


def _franceptt(status: str, reply: str, text: str, command: str) -> str:
    found = _FRANCEPTT_RE.findall(text)
    reason = _FRANCEPTT_CODES.get(found[-1], "") if found else ""
    if reason:
        return reason
    if "spf/dns de votre nom de domaine" in text:
        return "authfailure"
    if "service refuse" in text:
        return "blocked"  # "Service refusé. Veuillez essayer plus tard" (105-109, 201, 423): our server is refused
    return ""


# --- Facebook (https://www.facebook.com/postmaster/response_codes) ----------------------------------

_FACEBOOK_CODES: Final[dict[str, str]] = {
    "pol-p7": "authfailure", "pol-p1": "blocked", "pol-p2": "blocked", "pol-p3": "blocked", "pol-p4": "blocked",
    "pol-t1": "blocked", "pol-t2": "blocked", "pol-t3": "blocked", "msg-p2": "contenterror", "rcp-p2": "filtered",
    "rcp-p3": "filtered", "msg-p1": "mesgtoobig", "int-p2": "mesgtoobig", "msg-p3": "notcompliantrfc",
    "dns-p1": "rejected", "dns-p2": "rejected", "dns-t1": "rejected", "dns-p3": "requireptr", "dns-t2": "requireptr",
    "pol-p6": "spamdetected", "rcp-t4": "suspend", "rcp-t1": "systemerror", "con-t1": "toomanyconn",
    "con-t2": "toomanyconn", "con-t3": "toomanyconn", "con-t4": "toomanyconn", "msg-t1": "toomanyconn",
    "rcp-p1": "userunknown", "int-p1": "userunknown", "int-p3": "userunknown", "int-p4": "userunknown",
    "pol-p5": "virusdetected",
}
_FACEBOOK_RE = re.compile(r"\b([a-z]{3}-[pt]\d)\b")


def _facebook(status: str, reply: str, text: str, command: str) -> str:
    m = _FACEBOOK_RE.search(text)
    return _FACEBOOK_CODES.get(m.group(1), "") if m else ""


# --- Yahoo Inc. (https://senders.yahooinc.com/smtp-error-codes) ------------------------------------

_YAHOO_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "authfailure": ("yahoo requires all senders to authenticate with either spf or dkim",),
    "blocked": (" because the ip is in spamhaus's list;", "not accepted from ip addresses on spamhaus xbl"),
    "norelaying": ("relaying denied for ",),
    "notcompliantrfc": ("headers are not rfc compliant",),
    "policyviolation": ("not accepted for policy reasons",),
    "rejected": ("temporarily deferred due to unexpected volume or user complaints", "due to unresolvable rfc.5321 domain",
                 " will be permanently deferred"),
    "speeding": ("user is receiving mail too quickly",),
    "suspend": (" is no longer valid.", "this mailbox is disabled"),
    "syntaxerror": ("syntax error in parameters or arguments",),
    "toomanyconn": ("max message per connection reached",),
    "userunknown": ("dd this user doesn't have a ", "mailbox not found"),
}


def _yahooinc(status: str, reply: str, text: str, command: str) -> str:
    return _first_phrase(text, _YAHOO_TEXT)


# --- AOL, Google Workspace, MessageLabs, NTT DOCOMO -------------------------------------------------

def _aol(status: str, reply: str, text: str, command: str) -> str:
    if "host or domain name not found" in text:
        return "hostunknown"
    if "type=mx: malformed or unexpected name server reply" in text:
        return "notaccept"
    return ""


def _gsuite(status: str, reply: str, text: str, command: str) -> str:
    permanent = status[:1] == "5" or reply[:1] == "5"
    if " responded with code nxdomain" in text or "domain name not found" in text:
        return "hostunknown" if status[:1] == "5" and reply[:1] == "5" else ("" if permanent else "networkerror")
    if " had no relevant answers." in text and not permanent:
        return "networkerror"
    if "null mx" in text:
        return "notaccept"
    if "because the address couldn't be found. check for typos or unnecessary spaces and try again." in text:
        return "userunknown"
    return ""


_MESSAGELABS_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "authfailure": ("domain authentication fail",),
    "badreputation": ("connection rejected by policy",),
    "blocked": ("mail rejected because your ip is in the pbl", "your ip address has been ",
                "your ip address (ip-addr) has been blocked", "your email address (addr) has been blocked"),
    "contenterror": ("stray linefeeds in message",),
    "failedstarttls": ("tls/sslv3 connection required",),
    "norelaying": (" as a relay, ",),
    "notcompliantrfc": ("550 requested action aborted [4]", "has detected that this message is not rfc 5322"),
    "rejected": ("sender envelope domain not allowed for sender ip address", "your domain has been blocked",
                 "your email address has been blocked", "your envelope sender is in my badmailfrom list",
                 "your email address has been blacklisted", "your domain has been blacklisted"),
    "securityerror": ("please turn on smtp authentication in your mail client",),
    "spamdetected": ("message filtered", "filtered by outbound scanning"),
    "toomanyconn": ("too many recipients received this hour", "too many messages"),
    "userunknown": ("no such user", "invalid recipient", "mailbox is not allowed", "recipient mailbox is not allowed"),
}


_MESSAGELABS_542_RE = re.compile(r"\b542 \S{1,254} rejected")


def _messagelabs(status: str, reply: str, text: str, command: str) -> str:
    if _MESSAGELABS_542_RE.search(text):
        return "userunknown"  # "542 <address> Rejected": Symantec.cloud's answer for an unknown recipient
    return _first_phrase(text, _MESSAGELABS_TEXT)


def _nttdocomo(status: str, reply: str, text: str, command: str) -> str:
    if status in ("5.1.1", "5.0.911"):
        return "userunknown"
    if status == "5.2.0":
        return "filtered"
    for reason, phrases in (("mailboxfull", ("552 too much mail data",)),
                            ("syntaxerror", ("503 bad sequence of commands", "504 command parameter not implemented")),
                            ("toomanyconn", ("552 too many recipients",))):
        if any(p in text for p in phrases):
            return reason
    # DOCOMO's "550 Unknown user" after DATA was its domain/address filter (rejected), at RCPT a dead mailbox
    if status == "5.0.0" and command in ("RCPT", "DATA"):
        return "userunknown" if command == "RCPT" else "rejected"
    if "550 unknown user" in text:
        return "userunknown"
    return ""


# --- Mimecast (https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754) ------

_MIMECAST: Final[tuple[tuple[str, str, str], ...]] = (
    ("550", "spf sender invalid - envelope rejected", "authfailure"),
    ("550", "dkim sender invalid - envelope rejected", "authfailure"),
    ("550", "dmarc sender invalid - envelope rejected", "authfailure"),
    ("451", "internal resources are temporarily unavailable", "badreputation"),
    ("550", "local ct ip reputation - (reject)", "badreputation"),
    ("421", "sender address blocked", "blocked"),
    ("451", "recipient temporarily unavailable", "blocked"),
    ("451", "ip temporarily blacklisted", "blocked"),
    ("553", "this route requires encryption (tls)", "failedstarttls"),
    ("553", "this route requires tls version 1.2 or greater", "failedstarttls"),
    ("553", "this route requires high-strength ciphers", "failedstarttls"),
    ("554", "maximum email size exceeded", "mesgtoobig"),
    ("554", "mail loop detected", "networkerror"),
    ("451", "open relay not allowed", "norelaying"),
    ("451", "open relay is not allowed", "norelaying"),
    ("451", "account inbounds disabled", "notaccept"),
    ("550", "anti-spoofing policy - inbound not allowed", "policyviolation"),
    ("550", "rejected by header-based anti-spoofing policy", "policyviolation"),
    ("550", "message bounced due to content examination policy", "policyviolation"),
    ("554", "host network not allowed", "policyviolation"),
    ("554", "host network, not allowed", "policyviolation"),
    ("550", "administrative prohibition envelope blocked", "rejected"),
    ("550", "envelope blocked - user entry", "rejected"),
    ("550", "envelope blocked - user domain entry", "rejected"),
    ("550", "envelope rejected - block policy for envelope from address", "rejected"),
    ("535", "incorrect authentication data", "securityerror"),
    ("550", "submitter failed to authenticate", "securityerror"),
    ("451", "unable to process connection at this time", "systemerror"),
    ("451", "message ended early", "systemerror"),
    ("451", "account service is temporarily unavailable", "toomanyconn"),
    ("452", "too many recipients", "toomanyconn"),
    ("550", "exceeding outbound thread limit", "toomanyconn"),
    ("501", "invalid address", "userunknown"),
    ("503", "user unknown", "userunknown"),
    ("550", "invalid recipient", "userunknown"),
    ("554", "virus detected", "virusdetected"),
)


def _mimecast(status: str, reply: str, text: str, command: str) -> str:
    for code, phrase, reason in _MIMECAST:
        if reply == code and phrase in text:
            return reason
    return ""


# --- Google (https://support.google.com/a/answer/3726730) -------------------------------------------

_GOOGLE: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("451", "4.7.24", "the spf record of the sending domain", "authfailure"),
    ("550", "5.7.24", "the spf record of the sending domain", "authfailure"),
    ("421", "4.7.26", "senders to authenticate with either spf or dkim", "authfailure"),
    ("550", "5.7.26", "senders to authenticate with either spf or dkim", "authfailure"),
    ("550", "5.7.26", "fails to pass spf checks for an spf record with a hard fail", "authfailure"),
    ("550", "5.7.26", "has an spf record with a hard fail policy", "authfailure"),
    ("451", "4.7.26", "is not accepted due to domain's dmarc policy", "authfailure"),
    ("550", "5.7.26", "is not accepted due to domain's dmarc policy", "authfailure"),
    ("550", "5.7.1", "fails to pass authentication checks", "authfailure"),
    ("550", "5.7.26", "fails to pass authentication checks", "authfailure"),
    ("550", "5.7.1", "does not have authentication information", "authfailure"),
    ("421", "4.7.27", "senders to authenticate with spf", "authfailure"),
    ("421", "4.7.27", "senders to authenticate their email with spf", "authfailure"),
    ("550", "5.7.27", "senders to authenticate with spf", "authfailure"),
    ("421", "4.7.30", "senders to authenticate their email with dkim", "authfailure"),
    ("550", "5.7.30", "senders to authenticate with dkim", "authfailure"),
    ("421", "4.7.32", "aligned with either the authenticated spf or dkim", "authfailure"),
    ("421", "4.7.40", "to add a dmarc record to ", "authfailure"),
    ("421", "4.7.0", "very low reputation of the sending ip address", "badreputation"),
    ("421", "4.7.0", "very low reputation of the sending domain", "badreputation"),
    ("550", "5.7.1", "due to the very low reputation of the sending ip address", "badreputation"),
    ("550", "5.7.1", "due to the very low reputation of the sending domain", "badreputation"),
    ("421", "4.7.0", "ip not in whitelist for rcpt domain", "blocked"),
    ("421", "4.7.0", "try again later, closing connection.", "blocked"),
    ("501", "5.5.4", "empty helo/ehlo argument not allowed", "blocked"),
    ("501", "5.5.4", "helo/ehlo argument is invalid", "blocked"),
    ("421", "4.7.0", "an unusual rate of unsolicited mail", "blocked"),
    ("421", "4.7.28", "an unusual rate of mail", "blocked"),
    ("550", "5.7.1", "an unusual rate of unsolicited mail", "blocked"),
    ("550", "5.7.28", "an unusual rate of unsolicited mail", "blocked"),
    ("552", "5.2.3", "exceeded google's message size limits", "exceedlimit"),
    ("421", "4.7.0", "connection expired", "expired"),
    ("451", "4.4.2", "timeout - closing connection", "expired"),
    ("530", "5.7.0", "must issue a starttls command first", "failedstarttls"),
    ("421", "4.7.0", "tls required for rcpt domain", "failedstarttls"),
    ("452", "4.2.2", "inbox is out of storage space", "mailboxfull"),
    ("552", "5.2.2", "inbox is out of storage space and inactive", "mailboxfull"),
    ("452", "4.2.2", "is over quota", "mailboxfull"),
    ("552", "5.2.2", "is over quota", "mailboxfull"),
    ("550", "5.7.1", "email quota exceeded", "mailboxfull"),
    ("552", "5.3.4", "exceeded google's message size limits", "mesgtoobig"),
    ("552", "5.3.4", "exceeds google's message size limit of", "mesgtoobig"),
    ("554", "5.4.6", "message exceeded 50 hops", "networkerror"),
    ("550", "5.7.0", "mail relay denied", "norelaying"),
    ("550", "5.7.1", "invalid credentials for relay", "norelaying"),
    ("550", "5.7.1", "is not authorized to send email directly to our servers", "norelaying"),
    ("550", "5.7.1", "missing a valid address in the from: header", "notcompliantrfc"),
    ("550", "5.7.1", "multiple addresses in from: header are not accepted", "notcompliantrfc"),
    ("550", "5.7.1", "is not rfc 5322 compliant", "notcompliantrfc"),
    ("550", "5.7.1", "missing a valid message-id: header", "notcompliantrfc"),
    ("550", "5.7.1", "contains a unicode character in a disallowed header", "notcompliantrfc"),
    ("550", "5.7.1", "encoded-word syntax is not permitted", "notcompliantrfc"),
    ("554", "5.6.0", "mail message is malformed", "notcompliantrfc"),
    ("552", "5.7.0", "illegal attachment on your message", "policyviolation"),
    ("552", "5.7.0", "blocked because its content presents a potential security issue", "policyviolation"),
    ("550", "5.7.1", "you are sending to (or from) has a policy that prohibited", "policyviolation"),
    ("550", "5.7.0", "mail sending denied", "rejected"),
    ("550", "5.7.1", "unauthenticated email is not accepted", "rejected"),
    ("421", "4.7.0", "does not have a ptr record", "requireptr"),
    ("550", "5.7.25", "does not have a ptr record", "requireptr"),
    ("550", "5.7.25", "does not match the ip address of the hostname", "requireptr"),
    ("421", "4.7.0", "due to the nature of the content or the links within", "spamdetected"),
    ("550", "5.7.1", "likely unsolicited mail", "spamdetected"),
    ("450", "4.2.1", "is receiving mail too quickly", "speeding"),
    ("450", "4.2.1", "rate that prevents additional messages from being delivered", "speeding"),
    ("550", "5.2.1", "account that you tried to reach is disabled", "suspend"),
    ("550", "5.2.1", "account that you tried to reach is inactive", "suspend"),
    ("421", "4.3.0", "temporary system problem", "systemerror"),
    ("452", "4.5.3", "your message has too many recipients", "toomanyconn"),
    ("550", "5.1.1", "the email account that you tried to reach does not exist", "userunknown"),
)


def _google(status: str, reply: str, text: str, command: str) -> str:
    for code, st, phrase, reason in _GOOGLE:
        if reply == code and status == st and phrase in text:
            return reason
    return ""


# --- Microsoft (https://learn.microsoft.com/exchange/mail-flow/non-delivery-reports-in-exchange-server) --

#: (status or status prefix, lowest detail, highest detail, phrase, reason)
_MICROSOFT: Final[tuple[tuple[str, int, int, str, str], ...]] = (
    ("4.7.26", 0, 0, "must pass either spf or dkim validation, this message is not signed", "authfailure"),
    ("5.7.23", 0, 0, "the message was rejected because of sender policy framework violation", "authfailure"),
    ("5.7.509", 0, 0, "does not pass dmarc verification", "authfailure"),
    ("5.7.515", 0, 0, "doesn't meet the required authentication level", "authfailure"),
    ("4.7.650", 0, 0, "has been temporarily rate limited due to ip reputation", "badreputation"),
    ("4.4.2", 0, 0, "connection dropped", "blocked"),
    ("4.7.", 850, 899, "access denied, please try again later", "blocked"),
    ("5.7.25", 0, 0, "must have a reverse dns record", "blocked"),
    ("5.7.506", 0, 0, "access denied, bad helo", "blocked"),
    ("5.7.507", 0, 0, "access denied, rejected by recipient", "blocked"),
    ("5.7.510", 0, 0, "does not accept email over ipv6", "blocked"),
    ("5.7.511", 0, 0, "access denied, banned sender", "blocked"),
    ("5.7.513", 0, 0, "using customer block list", "blocked"),
    ("5.7.", 606, 649, "access denied, banned sending ip ", "blocked"),
    ("4.7.", 500, 699, "access denied, please try again later", "blocked"),
    ("5.7.1", 0, 0, "part of their network is on our block list (s3150)", "blocked"),
    ("5.3.0", 0, 0, "too many related errors", "contenterror"),
    ("5.6.11", 0, 0, "invalid characters", "contenterror"),
    ("5.4.11", 0, 0, "agent generated message depth exceeded", "contenterror"),
    ("5.5.6", 0, 0, "invalid message content", "contenterror"),
    ("4.4.1", 0, 0, "connection timed out", "expired"),
    ("4.4.7", 0, 0, "message delayed", "expired"),
    ("4.4.7", 0, 0, "message expired", "expired"),
    ("5.4.300", 0, 0, "message expired", "expired"),
    ("5.4.316", 0, 0, "message expired", "expired"),
    ("4.4.317", 0, 0, "starttls is required to send mail", "failedstarttls"),
    ("5.4.317", 0, 0, "starttls is required to send mail", "failedstarttls"),
    ("5.2.2", 0, 0, "mailbox full", "mailboxfull"),
    ("5.2.3", 0, 0, "resolver.rst.recipsizelimit; message too large for this recipient", "mesgtoobig"),
    ("5.3.4", 0, 0, "message size exceeds fixed maximum message size", "mesgtoobig"),
    ("5.3.4", 0, 0, "message too big for system", "mesgtoobig"),
    ("5.4.4", 0, 0, "smtpsend.dns.nonexistentdomain; nonexistent domain", "networkerror"),
    ("5.4.6", 0, 0, "hop count exceeded - possible mail loop", "networkerror"),
    ("4.4.312", 0, 0, "dns query failed", "networkerror"),
    ("5.4.312", 0, 0, "dns query failed", "networkerror"),
    ("4.4.316", 0, 0, "connection refused", "networkerror"),
    ("5.4.316", 0, 0, "connection refused", "networkerror"),
    ("5.4.14", 0, 0, "routing loop detected", "networkerror"),
    ("5.7.1", 0, 0, "unable to relay", "norelaying"),
    ("5.4.1", 0, 0, "relay access denied", "norelaying"),
    ("5.7.64", 0, 0, "tenantattribution; relay access denied", "norelaying"),
    ("4.3.2", 0, 0, "system not accepting network messages", "notaccept"),
    ("5.3.2", 0, 0, "storedrv.deliver: missing or bad storedriver mdb properties", "notaccept"),
    ("5.7.", 900, 999, "delivery not authorized, message refused", "policyviolation"),
    ("5.1.7", 0, 0, "invalid address", "rejected"),
    ("5.1.7", 0, 0, "unknown sender address", "rejected"),
    ("5.1.0", 0, 0, "sender denied", "rejected"),
    ("5.1.8", 0, 0, "access denied, bad outbound sender", "rejected"),
    ("5.7.1", 0, 0, "delivery not authorized", "rejected"),
    ("5.7.12", 0, 0, "sender was not authenticated by organization", "rejected"),
    ("5.7.124", 0, 0, "sender not in allowed-senders list", "rejected"),
    ("5.7.133", 0, 0, "sender not authenticated for group", "rejected"),
    ("5.7.134", 0, 0, "sender was not authenticated for mailbox", "rejected"),
    ("5.7.", 501, 503, "access denied, spam abuse detected", "rejected"),
    ("5.7.512", 0, 0, "access denied, message must be rfc 5322 section 3.6.2 compliant", "rejected"),
    ("5.7.3", 0, 0, "cannot achieve exchange server authentication", "securityerror"),
    ("5.7.57", 0, 0, "client was not authenticated to send anonymous mail during mail from", "securityerror"),
    ("5.2.1", 0, 0, "content filter agent quarantined this message", "spamdetected"),
    ("5.5.3", 0, 0, "too many recipients", "speeding"),
    ("4.7.652", 0, 0, "has exceeded the maximum number of connections", "speeding"),
    ("5.7.508", 0, 0, "has exceeded permitted limits within", "speeding"),
    ("5.7.504", 0, 0, "recipient address rejected: access denied", "suspend"),
    ("5.7.505", 0, 0, "access denied, banned recipient", "suspend"),
    ("5.2.1", 0, 0, "mailbox cannot be accessed", "suspend"),
    ("5.5.2", 0, 0, "send hello first", "syntaxerror"),
    ("4.3.2", 0, 0, "service not available", "systemerror"),
    ("5.3.5", 0, 0, "system incorrectly configured", "systemerror"),
    ("4.3.1", 0, 0, "insufficient system resources", "systemfull"),
    ("5.1.1", 0, 0, "resolver.adr.exrecipnotfound; not found", "userunknown"),
    ("5.1.1", 0, 0, "user unknown", "userunknown"),
    ("5.1.3", 0, 0, "storedrv.submit; invalid recipient address", "userunknown"),
    ("5.1.1", 0, 0, "bad destination mailbox address", "userunknown"),
    ("5.1.10", 0, 0, "recipient not found", "userunknown"),
    ("5.4.1", 0, 0, "recipient address rejected: access denied", "userunknown"),
    ("5.5.0", 0, 0, "requested action not taken: mailbox unavailable", "userunknown"),
    ("5.1.351", 0, 0, "remote server returned unknown recipient or mailbox unavailable", "userunknown"),
)
#: The table indexed once: exact status -> [(phrase, reason)], and the ranged entries, both in reason order.
_MS_EXACT: Final[dict[str, list[tuple[str, str]]]] = {}
_MS_RANGED: Final[list[tuple[str, int, int, str, str]]] = []
for _st, _lo, _hi, _phrase, _reason in sorted(_MICROSOFT, key=lambda e: e[4]):
    if _lo == _hi == 0:
        _MS_EXACT.setdefault(_st, []).append((_phrase, _reason))
    else:
        _MS_RANGED.append((_st, _lo, _hi, _phrase, _reason))


def _microsoft_table(status: str, text: str, *, specific_only: bool) -> str:
    """Microsoft's documented (status, message) pairs; by reason name like Sisimai's table."""
    if not status:
        return ""
    detail = status.rpartition(".")[2]
    third = int(detail) if detail.isdigit() else -1
    if specific_only and third < 100:
        return ""
    found = [(r, p) for p, r in _MS_EXACT.get(status, ()) if p in text]
    found += [(r, p) for st, lo, hi, p, r in _MS_RANGED if status.startswith(st) and lo <= third <= hi and p in text]
    return min(found)[0] if found else ""


def _microsoft(status: str, reply: str, text: str, command: str) -> str:
    return _microsoft_table(status, text, specific_only=False)


# --- KDDI au, Tencent QQ, GoDaddy ---------------------------------------------------------------

def _kddi(status: str, reply: str, text: str, command: str) -> str:
    if "550 : user unknown" in text:
        return "filtered"
    if ">: user unknown" in text:
        return "userunknown"
    return ""


_TENCENT_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "authfailure": ("spf check failed", "dmarc check failed"),
    "blocked": ("suspected bounce attacks", "suspected spam ip", "connection denied"),
    "mesgtoobig": ("message too large",),
    "rejected": ("suspected spam", "mail is rejected by recipients"),
    "spamdetected": ("spam is embedded in the email", "mail content denied"),
    "speeding": ("mailbox unavailable or access denined", "frequency of receiving messages is limited"),
    "suspend": ("is a deactivated mailbox",),
    "syntaxerror": ("bad address syntax",),
    "toomanyconn": ("ip frequency limited", "domain frequency limited", "sender frequency limited",
                    "connection frequency limited"),
    "userunknown": ("mailbox not found",),
}


def _tencent(status: str, reply: str, text: str, command: str) -> str:
    # "suspected spam ip" (blocked) is more specific than "suspected spam" (rejected)
    if any(p in text for p in _TENCENT_TEXT["blocked"]):
        return "blocked"
    return _first_phrase(text, _TENCENT_TEXT)


_GODADDY_CODES: Final[dict[str, str]] = {
    "ib401": "securityerror", "ib501": "notcompliantrfc", "ib502": "notcompliantrfc", "ib506": "rejected",
    "ib508": "authfailure", "ib108": "requireptr", "ib212": "spamdetected", "ib705": "virusdetected",
    "ib605": "toomanyconn", "ib007": "toomanyconn", "ib101": "speeding", "ib110": "blocked", "ib111": "blocked",
    "ib112": "blocked", "ib113": "blocked", "ib504": "speeding", "ib510": "speeding", "ib607": "speeding",
    "ib103": "badreputation", "ib104": "blocked", "ib105": "blocked", "ib106": "blocked",
}
_GODADDY_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "blocked": ("rbl reject", "www.spamhaus.org/query/bl?ip="),
    "expired": ("has been in the queue too long", "delivery timeout"),
    "mailboxfull": ("account storage limit",),
    "spamdetected": ("message rejected for spam or virus content",),
    "suspend": ("account disabled",),
    "systemerror": ("message is looping",),
    "userunknown": ("recipient not found", "account does not exist"),
}
_GODADDY_RE = re.compile(r" (ib\d{3})\b")


def _godaddy(status: str, reply: str, text: str, command: str) -> str:
    m = _GODADDY_RE.search(text)
    if m and m.group(1) in _GODADDY_CODES:
        return _GODADDY_CODES[m.group(1)]
    return _first_phrase(text, _GODADDY_TEXT)


# --- Apple iCloud (https://support.apple.com/en-us/102322) ----------------------------------------

_APPLE_TEXT: Final[dict[str, tuple[str, ...]]] = {
    "authfailure": ("s dmarc policy", "blocked for failing both spf and dkim autentication checks",
                    "blocked for failing both spf and dkim authentication checks"),
    "blocked": ("rejected due to having a domain present in the spamhaus", "rejected due to listing in spamhaus",
                "blocked - see https://support.proofpoint.com/dnsbl-lookup", "not accepting connections"),
    "hasmoved": ("recipient no longer on server",),
    "mailboxfull": ("user is over quota",),
    "norelaying": ("relay access denied",),
    "notaccept": ("host/domain does not accept mail",),
    "policyviolation": ("due to local policy",),
    "speeding": ("due to excessive volume",),
    "rejected": ("sender address rejected",),
    "suspend": ("inactive email address",),
    "userunknown": ("user does not exist", "unknown or illegal alias"),
}


def _apple(status: str, reply: str, text: str, command: str) -> str:
    return _first_phrase(text, _APPLE_TEXT)


def _verizon(status: str, reply: str, text: str, command: str) -> str:
    # Verizon Wireless's SMS/MMS gateways answer for their own domains
    if "550 - requested action not taken: no such user here" in text or "no valid recipients" in text:
        return "userunknown"
    return ""


_RHOSTS: Final[dict[str, Callable[[str, str, str, str], str]]] = {
    "aol": _aol, "cox": _cox, "facebook": _facebook, "franceptt": _franceptt, "google": _google, "gsuite": _gsuite,
    "messagelabs": _messagelabs, "microsoft": _microsoft, "mimecast": _mimecast, "nttdocomo": _nttdocomo,
    "spectrum": _spectrum, "yahooinc": _yahooinc, "kddi": _kddi, "tencent": _tencent, "godaddy": _godaddy,
    "outlook": _microsoft, "apple": _apple, "verizon": _verizon,
}


def rhost_reason(
    domain: str, remote_host: str, status: str, reply: str, text: str, command: str, local_host: str = ""
) -> str:
    """The reason from the receiving provider's own table, "" when no table applies or it says nothing."""
    name = rhost_class(domain, remote_host, local_host)
    fn = _RHOSTS.get(name)
    if fn is not None:
        reason = fn(status, reply, text, command)
        if reason:
            return reason
    # Exchange Online's three-digit enhanced codes (5.4.316, 5.7.509...) are its own wherever they appear
    return _microsoft_table(status, text, specific_only=True)


_HOST_RE = re.compile(r"\bhost:? ([a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){1,8})")


def remote_host_in(text: str) -> str:
    """The remote MTA's name in a free-text report ("host mx.example.com[192.0.2.1] said: ..."), "" if none."""
    m = _HOST_RE.search(text[:3000].lower())
    return m.group(1) if m else ""
