"""From status code, reply code, SMTP command and diagnostic text to a fine reason.

The vocabulary is the one of ``models.taxonomy.REASONS``, which is the
vocabulary of the Sisimai bounce parser (https://libsisimai.org), the
de-facto standard, so that our results can be compared with its results.

Attribution: the phrase lists, the status-code table, the remote-host tables
and the order in which reasons are tried are ported from Sisimai
(Copyright (C) azumakuniyuki and the sisimai development team, BSD 2-Clause
License; see ``NOTICE``).  The code is our own; the phrases marked
"bouncedesk" are our additions (mostly other languages).

How a reason is decided (the same steps Sisimai takes):

0. The status used is the more telling of the DSN field and the code inside
   the answer (``prefer_status``); the SMTP command comes from the caller, or
   from the answer itself ("after RCPT TO:", qmail's "but sender was
   rejected", Gmail's "(state 14)").
1. Fixed sentences of particular MTAs (``VENDOR``: Exim, qmail, Exchange's
   RESOLVER codes, Domino, OpenSMTPD, Gmail...) name the problem outright.
   Then the remote host (recipient domain, remote MTA or reporting MTA) picks
   a vendor table (``ingest.rhosts``: Google, Microsoft, Yahoo, Cox, Spectrum,
   Orange, Mimecast, ...): vendors document their own codes.
2. For an SMTP diagnostic, the reasons of ``FIRST_ORDER`` are probed in order;
   each probe combines the reason of the status code, the SMTP command the
   remote answered and the phrases of the reason.  The order matters: a
   "mailbox full" text under a 5.1.1 status is a full mailbox, an "unknown
   user" answer to the message body (not to RCPT) is the recipient's filter.
3. Failing that, a specific status code decides; a generic or retryable one
   (5.0.0, 5.7.0, 4.4.x...) lets the phrases of ``SECOND_ORDER`` speak, then
   the status class (x.6 content, x.7 security), the reply code (5.0x syntax),
   the action (delayed: expired) and the command (HELO: blocked).

Matching is on lower-cased text with folded white space, by plain substring
search (``in``) and "aligned" substring pairs (each part found after the
previous one, with ``str.find``): linear in the text, so no input can make it
slow, and faster than a regular expression per phrase.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from ingest.rhosts import rhost_reason

_WS_RE = re.compile(r"\s+")

#: Only this much diagnostic text is read: real answers are short, and it bounds the time per message.
MAX_TEXT: Final[int] = 2000


class Phrases:
    """A reason's phrase list: plain substrings and ordered substring tuples."""

    __slots__ = ("index", "pairs", "isnot")

    def __init__(self, index: tuple[str, ...], pairs: tuple[tuple[str, ...], ...] = (), isnot: tuple[str, ...] = ()):
        self.index = tuple(p.lower() for p in index)
        self.pairs = tuple(tuple(x.lower() for x in p) for p in pairs)
        self.isnot = tuple(p.lower() for p in isnot)

    def __call__(self, text: str) -> bool:
        """True when ``text`` (already lower-cased) contains one of the phrases."""
        if not text:
            return False
        for p in self.isnot:
            if p in text:
                return False
        for p in self.index:
            if p in text:
                return True
        for pair in self.pairs:
            if aligned(text, pair):
                return True
        return False


def aligned(text: str, parts: tuple[str, ...]) -> bool:
    """True when every part occurs in ``text``, each after the end of the previous one."""
    pos = 0
    for part in parts:
        found = text.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return True


# ---------------------------------------------------------------------------------------------
# Phrase lists (Sisimai's lib/sisimai/reason/*; "bouncedesk" marks our additions)
# ---------------------------------------------------------------------------------------------

PHRASES: Final[dict[str, Phrases]] = {
    "authfailure": Phrases((
        "//spf.pobox.com", "bad spf records for", "dmarc policy", "doesn't meet the required authentication level",
        "please inspect your spf settings", "sender policy framework (spf) fail", "sender policy framework violation",
        "spf (sender policy framework) domain authentication fail", "spf check: fail",
        "the 5322.from address doesn't meet the authentication requirements defined for the sender",
        # bouncedesk
        "does not pass dmarc verification", "fails to pass authentication checks", "dkim signature failed",
        "spf validation failed", "dmarc verification failed", "verification dmarc en echec",
    ), (
        (" is not allowed to send mail.", "_401"), ("is not allowed to send from <", " per it's spf record"),
    )),
    "badreputation": Phrases((
        "a poor email reputation score", "has been temporarily rate limited due to ip reputation",
        "ip/domain reputation problems", "likely suspicious due to the very low reputation", "none/bad reputation",
        "temporarily deferred due to unexpected volume or user complaints", "the sending mta's poor reputation",
    )),
    "blocked": Phrases((
        " said: 550 blocked", "//www.spamcop.net/bl.", "bad sender ip address", "banned sending ip", "blacklisted by",
        "blocked using ", "blocked - see http", "dnsbl:attrbl", "client host rejected: abus detecte gu_eib_02",
        "client host rejected: abus detecte gu_eib_04", "client host rejected: may not be mail exchanger",
        "client host rejected: was not authenticated", "confirm this mail server", "connection dropped",
        "connection refused by", "connection reset by peer", "connection was dropped by remote host",
        "connections not accepted from ip addresses on spamhaus xbl", "currently sending spam see: ",
        "domain does not exist:", "dynamic/zombied/spam ips blocked", "error: no valid recipients from ",
        "esmtp not accepting connections", "extreme bad ip profile", "go away", "helo command rejected:",
        "host network not allowed", "hosts with dynamic ip", "invalid ip for sending mail of domain",
        "is in a black list", "is not allowed to send mail from", "mailfrom domain is listed in spamhaus",
        "no access from mail server", "no matches to nameserver query", "not currently accepting mail from your ip",
        "part of their network is on our block list", "please use the smtp server of your isp", "refused - see http",
        "rejected - multi-blacklist", "rejected because the sending mta or the sender has not passed validation",
        "rejecting open proxy", "sender ip address rejected", "server access forbidden by your ip ",
        "service not available, closing transmission channel",
        "smtp error from remote mail server after initial connection:",
        "sorry, that domain isn't in my list of allowed rcpthosts", "sorry, your remotehost looks suspiciously like spammer",
        "temporarily deferred due to unexpected volume or user complaints",
        "to submit messages to this e-mail system has been rejected", "too many spams from your ip",
        "too many unwanted messages have been sent from the following ip address above", "was blocked by ",
        "we do not accept mail from dynamic ips", "you are not allowed to connect", "you are sending spam",
        "your ip address is listed in the rbl", "your network is temporary blacklisted", "your server requires confirmation",
        # bouncedesk
        "adresse ip source bloquee", "client host blocked", "ip address blacklisted", "blocked by spamhaus",
        "listed on spamhaus", "listed in spamhaus", "blocked by barracuda",
    ), (
        ("(", "@", ":blocked)"), ("access from ip address ", " blocked"), ("client host ", " blocked using"),
        ("connections will not be accepted from ", " because the ip is in spamhaus's list"),
        ("dnsbl:rbl ", ">_is_blocked"), ("email blocked by ", ".barracudacentral.org"), ("email blocked by ", "spamhaus"),
        ("host ", " refused to talk to me: ", " blocked"), ("ip ", " is blocked by earthlink"), ("is in an ", "rbl on "),
        ("mail server at ", " is blocked"), ("mail from ", " refused:"), ("mail from ", " refused, see ", "orbs"),
        ("message from ", " rejected based on blacklist"), ("messages from ", " temporarily deferred due to user complaints"),
        ("server ip ", " listed as abusive"), ("sorry! your ip address", " is blocked by rbl"), ("the domain ", " is blacklisted"),
        ("the email ", " is blacklisted"), ("the ip", " is blacklisted"),
        ("veuillez essayer plus tard. service refused, please try later. ", "103"),
        ("veuillez essayer plus tard. service refused, please try later. ", "510"),
        ("your access ip", " has been rejected"), ("your sender's ip address is listed at ", ".abuseat.org"),
    )),
    "contenterror": Phrases((
        "duplicate header", "header size exceeds maximum permitted", "improper use of 8-bit data in message header",
        "message header size, or recipient list, exceeds policy limit", "message mime complexity exceeds the policy maximum",
        "routing loop detected -- too many received: headers", "this message contain invalid mime headers",
        "this message contain improperly-formatted binary content",
        "this message contain text that uses unnecessary base64 encoding",
    )),
    "exceedlimit": Phrases(("message header size exceeds limit", "message too large")),
    "expired": Phrases((
        "connection timed out", "could not find a gateway for", "delivery attempts will continue to be", "delivery expired",
        "delivery time expired", "failed to deliver to domain ", "giving up on", "have been failing for a long time",
        "has been delayed", "it has not been collected after", "message expired after sitting in queue for",
        "message expired, cannot connect to remote server", "message expired, connection refulsed", "message timed out",
        "retry time not reached for any host after a long failure period", "server did not respond",
        "this message has been in the queue too long", "unable to deliver message after multiple retries",
        "was not reachable within the allowed queue period", "your message could not be delivered for more than",
        # bouncedesk
        "retry timeout exceeded", "message could not be delivered within", "will be retried for",
        "all hosts have been failing for a long time", "has been frozen", "was frozen on arrival by ",
    ), (
        ("could not be delivered for", " days"),
    )),
    "failedstarttls": Phrases((
        "starttls is required to send mail", "tls required but not supported",
        # bouncedesk
        "does not support tls", "must issue a starttls command first", "tls required for rcpt domain",
        "requires encryption (tls)",
    )),
    "filtered": Phrases((
        "account is protected by", "bounced address", "has restricted sms e-mail", "is not accepting any mail",
        "message filtered", "message rejected due to user rules", "not found recipient account",
        "recipient id refuse to receive mail", "recipient is only accepting mail from specific email addresses",
        "refused due to recipient preferences", "user not found", "user refuses to receive this mail", "user reject",
        "you have been blocked by the recipient",
        # bouncedesk
        "due to extended inactivity new mail is not currently being accepted for this mailbox",
        "resolver.rst.notauthorized", "受信拒否",
    )),
    "hasmoved": Phrases((
        " has been replaced by ",
        # bouncedesk
        "address has changed", "mailbox has moved", "user has moved",
    )),
    "hostunknown": Phrases((
        "domain does not exist", "domain is not reachable", "domain must exist", "host or domain name not found",
        "host unknown", "host unreachable", "mail domain mentioned in email address is unknown",
        "name or service not known", "no such domain", "recipient address rejected: unknown domain name",
        "recipient domain must exist", "the account or domain may not exist", "unknown host", "unroutable address",
        "unrouteable address",
        # bouncedesk
        "domaine inconnu", "domaine inexistant", "dominio inexistente", "dominio no existe", "domain existiert nicht",
        "unbekannte domain",
    ), (
        ("553 ", " does not exist"),
    )),
    "mailboxfull": Phrases((
        "452 insufficient disk space", "account disabled temporarly for exceeding receiving limits",
        "boite du destinataire pleine", "exceeded storage allocation", "full mailbox", "mailbox exceeds allowed size",
        "mailbox size limit exceeded", "mailbox would exceed maximum allowed storage", "mailfolder is full",
        "no space left on device", "not sufficient disk space", "quota violation for", "too much mail data",
        "user has exceeded quota, bouncing mail", "user has too many messages on the server", "user's space has been used up",
        # bouncedesk: other languages (de, fr, es, it, nl, no, da, sv, pt, ru, ja, zh)
        "postfach voll", "postfach ist voll", "speicherplatz des postfachs", "quota überschritten",
        "boite aux lettres pleine", "boîte aux lettres pleine", "boite pleine", "boîte pleine", "quota dépassé",
        "buzón lleno", "buzon lleno", "buzón está lleno", "casella piena", "casella di posta piena", "mailbox vol",
        "postvak is vol", "postbus is vol", "postkasse er full", "postkassen er full", "postkassen er fuld",
        "brevlådan är full", "postlådan är full", "caixa postal cheia", "caixa de correio cheia", "caixa cheia",
        "ящик переполнен", "容量オーバー", "容量超過", "メールボックスがいっぱい", "邮箱已满", "信箱已满", "邮箱容量已满",
        "over quota", "overquota", "is over quota", "inbox is out of storage space",
    ), (
        ("account is ", " quota"), ("disk", "quota"), ("enough ", " space"), ("mailbox ", "exceeded", " limit"),
        ("mailbox ", "full"), ("mailbox ", "quota"), ("maildir ", "quota"), ("over ", "quota"), ("quota ", "exceeded"),
    )),
    "mailererror": Phrases((
        " || exit ", "procmail: ", "bin/procmail", "bin/maidrop", "command failed: ", "command died with status ",
        "command output:", "mailer error", "pipe to |/", "x-unix; ",
    )),
    "mesgtoobig": Phrases((
        "exceeded maximum inbound message size", "exceeded the maximum incoming message size", "line limit exceeded",
        "max message size exceeded", "message file too big", "message length exceeds administrative limit",
        "message size exceeds fixed limit", "message size exceeds fixed maximum message size",
        "message size exceeds maximum value", "message too big", "message too large for this ", "size limit",
        "taille limite du message atteinte",
        # bouncedesk
        "nachricht ist zu groß", "nachricht zu gross", "message trop volumineux", "mensaje demasiado grande",
    )),
    "networkerror": Phrases((
        "could not connect and send the mail to", "dns records for the destination computer could not be found",
        "hop count exceeded - possible mail loop", "host is unreachable", "host name lookup failure",
        "host not found, try again", "mail forwarding loop for ", "malformed name server reply",
        "malformed or unexpected name server reply", "maximum forwarding loop count exceeded", "message looping",
        "message probably in a routing loop", "no route to host", "too many hops", "unable to resolve route ",
        "unrouteable mail domain",
    )),
    "norelaying": Phrases((
        "as a relay", "email address is not verified.", "insecure mail relay",
        "is not permitted to relay through this server without authentication",
        "mail server requires authentication when attempting to send to a non-local e-mail address", "no relaying",
        "not a gateway", "not allowed to relay through this machine", "not an open relay, so get lost", "not local host",
        "relay access denied", "relay denied", "relay not permitted", "relaying denied", "relaying mail to ",
        "specified domain is not allowed", "that domain isn't in my list of allowed rcpthost",
        "this system is not configured to relay mail", "unable to relay ", "we don't handle mail for",
    )),
    "notaccept": Phrases((
        "does not accept mail (nullmx)", "host/domain does not accept mail", "host does not accept mail",
        "mail receiving disabled", "name server: .: host not found", "no mx record found for domain=",
        "no route for current request", "smtp protocol returned a permanent error",
        # bouncedesk
        "null mx", "nullmx",
    )),
    "notcompliantrfc": Phrases((
        "duplicate header", "this message is not rfc 5322 compliant",
        "https://support.google.com/mail/?p=rfcmessagenoncompliant",
        # bouncedesk
        "headers are not rfc compliant", "message must be rfc 5322 section 3.6.2 compliant",
    ), (
        (" multiple ", " header"),
    )),
    "policyviolation": Phrases((
        "an illegal attachment on your message", "because the recipient is not accepting mail with ",
        "by non-member to a members-only list", "closed mailing list", "denied by policy",
        "email not accepted for policy reasons", "email rejected due to security policies", "header are not accepted",
        "header error", "local policy violation", "message bounced due to organizational settings",
        "message given low priority", "message not accepted for policy reasons", "message rejected due to local policy",
        "messages with multiple addresses", "rejected for policy reasons", "protocol violation",
        "the email address used to send your message is not subscribed to this group",
        "the message was rejected by organization policy",
        "this message was blocked because its content presents a potential",
        "we do not accept messages containing images or other attachments", "you're using a mass mailer",
    ), (
        ("you have exceeded the", "allowable number of posts without solving a captcha"),
    )),
    "rejected": Phrases((
        "access denied (in reply to mail from command)", "access denied (sender blacklisted)", "address rejected",
        "administrative prohibition", "batv failed to verify", "batv validation failure",
        "backscatter protection detected an invalid or expired email address",
        "because the sender isn't on the recipient's list of senders to accept mail from", "bogus mail from",
        "can't determine purported responsible address",
        "connections not accepted from servers without a valid sender domain", "denied [bouncedeny]",
        "denied by secumail valid-address-filter", "delivery not authorized, message refused", "does not exist e2110",
        "domain of sender address ", "email address is on senderfilterconfig list", "emetteur invalide",
        "empty envelope senders not allowed", "envelope blocked - ", "error: no third-party dsns",
        "from: domain is invalid. please provide a valid from:", "fully qualified email address required",
        "invalid domain, see <url:", "invalid sender", "is not a registered gateway user", "mail from not owned by user",
        "message rejected: email address is not verified", "mx records for ", "null sender is not allowed",
        "recipient addresses rejected : access denied", "recipient not accepted. (batv: no tag",
        "returned mail not accepted here", "rfc 1035 violation: recursive cname records for", "rule imposed mailbox access for",
        "sending this from a different address or alias using the ", "sender address has been blacklisted",
        "sender email address rejected", "sender is in my black list", "sender is spammer", "sender not pre-approved",
        "sender rejected", "sender domain is empty", "sender verify failed", "sender was rejected", "spam reporting address",
        "syntax error: empty email address", "the message has been rejected by batv defense",
        "this server does not accept mail from", "transaction failed unsigned dsn for", "unroutable sender address",
        "you are not allowed to post to this mailing list", "you are sending to/from an address that has been blacklisted",
        "your access to submit messages to this e-mail system has been rejected", "your email address has been blacklisted",
    ), isnot=("5.1.0 address rejected", "recipient address rejected", "sender ip address rejected")),
    "requireptr": Phrases((
        "access denied. ip name lookup failed", "all mail servers must have a ptr record with a valid reverse dns entry",
        "bad dns ptr resource record", "cannot find your hostname", "cannot resolve your address.",
        "client host rejected: cannot find your hostname", "fix reverse dns for ", "ips with missing ptr records",
        "no ptr record found.", "please get a custom reverse dns name from your isp for your host", "ptr record setup",
        "reverse dns failed", "reverse dns required", "sender ip reverse lookup rejected",
        "the ip address sending this message does not have a ptr record setup",
        "the corresponding forward dns entry does not point to the sending ip",
        "this system will not accept messages from servers/devices with no reverse dns", "unresolvable relay host name",
        "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
        # bouncedesk
        "must have a reverse dns record",
    ), (
        ("domain ", " mismatches client ip"), ("dns lookup failure: ", " try again later"),
        ("reverse dns lookup for host ", " failed permanently"),
        ("server access ", " forbidden by invalid rdns record of your mail server"),
        ("service permits ", " unverifyable sending ips"),
    )),
    "securityerror": Phrases((
        "account not subscribed to ses", "authentication credentials invalid", "authentication failure",
        "authentication required", "authentication turned on in your email client",
        "executable files are not allowed in compressed files", "insecure mail relay",
        "recipient address rejected: access denied",
        "sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
        "unauthenticated senders not allowed", "verification failure",
        "you are not authorized to send mail, authentication is required",
    ), (
        ("authentication failed; server ", " said: "), ("authentification invalide", "305"),
        ("authentification requise", "402"), ("domain ", " is a dead domain"),
        ("user ", " is not authorized to perform ses:sendrawemail on resource"),
    )),
    "spamdetected": Phrases((
        " - spam", "//www.spamhaus.org/help/help_spam_16.htm", "//dsbl.org/help/help_spam_16.htm",
        "//mail.163.com/help/help_spam_16.htm", "554 5.7.0 reject, id=", "appears to be unsolicited",
        "blacklisted url in message", "block for spam", "blocked by policy: no spam please", "blocked by spamassassin",
        "blocked for abuse. see http://att.net/blocks", "cannot be forwarded because it was detected as spam",
        "considered unsolicited bulk e-mail (spam) by our mail filters", "content filter rejection",
        "cyberoam anti spam engine has identified this email as a bulk email", "denied due to spam list",
        "high probability of spam", "is classified as spam and is rejected", "listed in work.drbl.imedia.ru",
        "the mail server detected your message as spam and has prevented delivery.", "mail appears to be unsolicited",
        "mail content denied", "may consider spam", "message considered as spam or virus", "message contains spam or virus",
        "message content rejected", "message detected as spam", "message filtered",
        "message filtered. please see the faqs section on spam", "message filtered. refer to the troubleshooting page at ",
        "message looks like spam", "message is being rejected as it seems to be a spam",
        "message refused by mailmarshal spamprofiler", "message refused by trustwave seg spamprofiler",
        "message rejected as spam", "message rejected because of unacceptable content",
        "message rejected due to suspected spam content", "message rejected for policy reasons",
        "message was rejected for possible spam/virus content", "our email server thinks this email is spam",
        "our system has detected that this message is ", "probable spam", "reject bulk.advertising",
        "rejected: spamassassin score ", "rejected - bulk email", "rejecting banned content", "rejecting mail content",
        "related to content with spam-like characteristics", "sender domain listed at ",
        "sending address not accepted due to spam filter", "spam blocked", "spam check", "spam content matched",
        "spam detected", "spam email", "spam email not accepted", "spam message rejected.", "spam not accepted",
        "spam refused", "spam rejection", "spam score ", "spambouncer identified spam", "spamming not allowed",
        "too many spam complaints", "too much spam.", "the email message was detected as spam",
        "the message has been rejected by spam filtering engine",
        "the message was rejected due to classification as bulk mail", "the content of this message looked like spam",
        "this message appears to be spam", "this message has been identified as spam",
        "this message has been scored as spam with a probability", "this message was classified as spam",
        "this message was rejected by recurrent pattern detection system", "transaction failed spam message not queued",
        "we dont accept spam", "your email appears similar to spam we have received before",
        "your email breaches local uribl policy", "your email had spam-like ", "your email is considered spam",
        "your email is probably spam", "your email was detected as spam", "your message as spam and has prevented delivery",
        "your message has been temporarily blocked by our filter",
        "your message has been rejected because it appears to be spam", "your message has triggered a spam block",
        "your message may contain the spam contents", "your message failed several antispam checks",
        # bouncedesk
        "courrier indésirable", "als spam eingestuft", "スパム", "迷惑メール", "垃圾邮件",
    ), (
        ("greylisted", " please try again in"), ("mail score (", " over "), ("mail rejete. mail rejected. ", "506"),
        ("our filters rate at and above ", " percent probability of being spam"), ("rejected by ", " (spam)"),
        ("rejected due to spam ", "classification"), ("rejected due to spam ", "content"),
        ("rule imposed as ", " is blacklisted on"), ("spam ", " exceeded"), ("this message scored ", " spam points"),
    )),
    "speeding": Phrases((
        "mail sent from your ip address has been temporarily rate limited", "please try again slower",
        "receiving mail at a rate that prevents additional messages from being delivered",
        # bouncedesk
        "user is receiving mail too quickly", "sending rate exceeded",
    )),
    "suspend": Phrases((
        " is currently suspended", " temporary locked", "archived recipient", "boite du destinataire archivee",
        "email account that you tried to reach is disabled", "has been suspended", "inactive account",
        "invalid/inactive user", "is a deactivated mailbox", "is unavailable: user is terminated",
        "mailbox currently suspended", "mailbox disabled", "mailbox is frozen", "mailbox unavailable or access denied",
        "recipient rejected: temporarily inactive", "recipient suspend the service",
        "the email account that you tried to reach is inactive", "this account has been disabled or discontinued",
        "this account has been temporarily suspended", "this address no longer accepts mail", "this mailbox is disabled",
        "user or domain is disabled", "user suspended", "vdelivermail: account is locked email bounced",
        # bouncedesk
        "account is disabled", "account has been disabled", "konto ist deaktiviert", "konto gesperrt",
        "postfach deaktiviert", "compte désactivé", "compte suspendu", "cuenta desactivada", "cuenta suspendida",
        "account disattivato", "account sospeso", "conta desativada", "conta suspensa", "аккаунт заблокирован",
    )),
    "systemerror": Phrases((
        "aliasing/forwarding loop broken", "can't create user output file", "could not load drd for domain",
        "internal error reading data", "internal server error: operation now in progress", "interrupted system call",
        "it encountered an error while being processed", "it would create a mail loop", "local configuration error",
        "local error in processing", "loop was found in the mail exchanger", "loops back to myself",
        "mail system configuration error", "queue file write error", "recipient deferred because there is no mdb",
        "remote server is misconfigured", "server configuration error", "service currently unavailable",
        "system config error", "temporary local problem", "timeout waiting for input", "transaction failed ",
    ), (
        ("unable to connect ", "daemon"),
    )),
    "systemfull": Phrases((
        "mail system full", "requested mail action aborted: exceeded storage allocation",
    )),
    "toomanyconn": Phrases((
        "all available ips are at maximum connection limit", "connection rate limit exceeded",
        "exceeds per-domain connection limit for", "has exceeded the max emails per hour ",
        "throttling failure: daily message quota exceeded", "throttling failure: maximum sending rate exceeded",
        "too many connections", "too many connections from your host.", "too many concurrent smtp connections",
        "too many errors from your ip", "too many recipients", "too many smtp sessions for this host", "trop de connexions, ",
        "we have already made numerous attempts to deliver this message",
    )),
    "userunknown": Phrases((
        "#5.1.1 bad address", "550 address invalid", "5.1.0 address rejected.", "address does not exist",
        "address not present in directory", "address unknown", "can't accept user", "does not exist.",
        "destination addresses were unknown", "destination server rejected recipients", "email address does not exist",
        "email address could not be found", "invalid address", "invalid mailbox", "invalid mailbox path",
        "invalid recipient", "is not a known user", "is not a valid mailbox", "is not an active address at this host",
        "mailbox does not exist", "mailbox invalid", "mailbox is inactive", "mailbox is unavailable",
        "mailbox not present", "mailbox not found", "mailbox unavaiable", "nessun utente simile in questo indirizzo",
        "no account by that name here", "no existe dicha persona", "no existe ese usuario ",
        "no mail box available for this user", "no mailbox by that name is currently available", "no mailbox found",
        "no such address here", "no such mailbox", "no such person at this address", "no such recipient", "no such user",
        "no thank you rejected: account unavailable", "no valid recipients, bye", "not a valid recipient",
        "not a valid user here", "not a local address", "not email addresses",
        "recipient address rejected. (in reply to rcpt to command)", "recipient address rejected: access denied",
        "recipient address rejected: invalid user", "recipient address rejected: invalid-recipient",
        "recipient address rejected: unknown user", "recipient address rejected: userunknown", "recipient does not exist",
        "recipient is not accepted", "recipient is not local", "recipient not exist", "recipient not found",
        "recipient not ok", "recipient refuses to accept your mail", "recipient unknown",
        "requested action not taken: mailbox unavailable", "resolver.adr.recipient notfound", "sorry, user unknown",
        "sorry, badrcptto", "sorry, no mailbox here by that name", "sorry, your envelope recipient has been denied",
        "that domain or user isn't in my list of allowed rcpthosts",
        "the email account that you tried to reach does not exist", "the following recipients was undeliverable",
        "the user's email name is not found", "there is no one at this address", "this address no longer accepts mail",
        "this email address is wrong or no longer valid", "this recipient is in my badrecipientto list",
        "this recipient is not in my validrcptto list", "this spectator does not exist", "unknown mailbox",
        "unknown recipient", "unknown user", "user does not exist", "user missing home directory", "user not active",
        "user not exist", "user not found", "user not known", "user unknown", "utilisateur inconnu !",
        "vdeliver: invalid or unknown virtual user",
        "weil die adresse nicht gefunden wurde oder keine e-mails empfangen kann",
        "your envelope recipient is in my badrcptto list",
        # bouncedesk: other languages (de, fr, es, it, nl, no, da, sv, pt, ru, ja, zh) and vendors
        "resolver.adr.recipnotfound", "benutzer unbekannt", "unbekannter benutzer", "unbekannter empfänger",
        "empfänger unbekannt", "adresse existiert nicht", "postfach existiert nicht", "benutzer existiert nicht",
        "utilisateur inconnu", "destinataire inconnu", "adresse inconnue", "adresse inexistante",
        "cette adresse n'existe pas", "usuario desconocido", "usuario no existe", "el usuario no existe",
        "destinatario desconocido", "dirección no existe", "la cuenta no existe", "utente sconosciuto",
        "utente inesistente", "destinatario sconosciuto", "destinatario inesistente", "indirizzo inesistente",
        "gebruiker onbekend", "onbekende gebruiker", "ontvanger onbekend", "onbekende ontvanger", "adres bestaat niet",
        "ukjent bruker", "ukjent mottaker", "brukeren finnes ikke", "adressen finnes ikke", "ukendt modtager",
        "brugeren findes ikke", "okänd mottagare", "okänd användare", "användaren finns inte", "usuário desconhecido",
        "usuário inexistente", "utilizador desconhecido", "пользователь не найден", "нет такого пользователя",
        "адрес не существует", "存在しないユーザ", "宛先が見つかりません", "宛先不明", "ユーザが存在しません",
        "用户不存在", "收件人不存在",
    ), (
        ("<", "> not found"), ("<", ">... blocked by "), ("account ", " does not exist at the organization"),
        ("adresse d au moins un destinataire invalide. invalid recipient.", "416"),
        ("adresse d au moins un destinataire invalide. invalid recipient.", "418"), ("bad", "recipient"),
        ("mailbox ", "does not exist"), ("mailbox ", "unavailable or access denied"), ("no ", " in name directory"),
        ("non", "existent user"), ("rcpt <", " does not exist"), ("rcpt (", "t exist "), ("recipient ", " was not found in"),
        ("recipient address rejected: user ", "  does not exist"),
        ("recipient address rejected: user unknown in ", "  table"), ("said: 550", "5.1.1 ", " user unknown "),
        ("this user doesn't have a ", " account"), ("unknown e", "mail address"), ("unknown local", "part"),
        ("user ", " was not found"), ("user ", " does not exist"), ("user (", ") unknown"),
    )),
    "virusdetected": Phrases((
        "it has a potentially executable attachment",
        "the message was rejected because it contains prohibited virus or spam content",
        "this form of attachment has been used by recent viruses or other malware", "virus detected",
        "virus phishing/malicious_url detected", "your message was infected with a virus",
    )),
}

#: Fixed sentences of particular MTAs and services (Sisimai's lhost/* tables and vendor documents):
#: (phrase, reason, status class it needs or "").  They name the problem outright, so they are trusted
#: before the status-aware probes.
VENDOR: Final[tuple[tuple[str, str, str], ...]] = (
    ("not listed in domino directory", "userunknown", ""),                  # HCL/Lotus Domino
    ("not listed in public name & address book", "userunknown", ""),        # Domino
    ("no se encuentra en el directorio de domino", "userunknown", ""),      # Domino (es)
    ("non répertorié dans l'annuaire domino", "userunknown", ""),           # Domino (fr)
    ("several matches found in domino directory", "systemerror", ""),       # Domino
    ("cannot route mail to user", "filtered", ""),                          # Domino
    ("user mailbox exceeds allowed size", "mailboxfull", ""),               # IMail Server
    ("requested action not taken: virus detected", "virusdetected", ""),    # IMail Server
    ("the user(s) account is temporarily over quota", "mailboxfull", ""),   # au EZweb
    ("the user(s) account is temporarily limited", "suspend", ""),          # au EZweb
    ("your message was not delivered within ", "expired", ""),              # au EZweb
    ("the mail could not be delivered to the recipient because the domain is not reachable", "hostunknown", ""),  # Outlook.com
    ("the recipient name is not recognized", "userunknown", ""),            # Exchange 2003
    ("smtpsend.dns.nonexistentdomain", "hostunknown", ""),                  # Exchange 2007+ NDR codes
    ("smtpsend.dns.mxloopback", "networkerror", ""),
    ("resolver.adr.badprimary", "systemerror", ""),
    ("resolver.adr.recipnotfound", "userunknown", ""),
    ("resolver.adr.recipientnotfound", "userunknown", ""),
    ("resolver.adr.exrecipnotfound", "userunknown", ""),
    ("resolver.adr.reciplimit", "toomanyconn", ""),
    ("resolver.adr.invalidinsmtp", "systemerror", ""),
    ("resolver.adr.ambiguous", "systemerror", ""),
    ("resolver.rst.authrequired", "securityerror", ""),
    ("resolver.rst.notauthorized", "rejected", ""),
    ("resolver.rst.recipsizelimit", "exceedlimit", ""),
    ("queue.expired", "expired", ""),
    ("(000c05a6)", "userunknown", ""),                                       # Exchange 2003 MSEXCH code
    ("invalid final delivery userid", "userunknown", ""),                   # IMail Server
    ("dd this user doesn't have a ", "userunknown", ""),                     # Yahoo Inc.
    ("because the address couldn't be found. check for typos or unnecessary spaces", "userunknown", ""),  # Google
    (" responded with code nxdomain", "networkerror", "4"),                  # Google Workspace, DNS still failing
    (" responded with code nxdomain", "hostunknown", "5"),
    ("dns lookup failure: host ", "hostunknown", ""),                        # DragonFly Mail Agent
    ("this domain's dns violates rfc 1035.", "systemerror", ""),            # Courier
    ("dns lookup failed.", "networkerror", ""),                              # Courier
    ("network error on destination mxs", "networkerror", ""),               # OpenSMTPD
    ("could not retrieve credentials", "securityerror", ""),                # OpenSMTPD
    ("address family mismatch on destination mxs", "networkerror", ""),     # OpenSMTPD
    ("all routes to destination blocked", "networkerror", ""),              # OpenSMTPD
    ("bad dns lookup error code", "networkerror", ""),                      # OpenSMTPD
    ("could not retrieve source address", "networkerror", ""),              # OpenSMTPD
    ("no valid route to remote mx", "networkerror", ""),                    # OpenSMTPD
    ("no valid route to destination", "networkerror", ""),                  # OpenSMTPD
    ("temporary failure in mx lookup", "networkerror", ""),                 # OpenSMTPD
    ("destination seem to reject all mails", "notaccept", ""),              # OpenSMTPD
    ("no mx found for domain", "notaccept", ""),                            # OpenSMTPD
    ("no mx found for destination", "notaccept", ""),                       # OpenSMTPD
    ("i wasn't able to establish an smtp connection", "networkerror", ""),  # qmail
    ("couldn't find a mail exchanger or ip address", "notaccept", ""),      # qmail
    ("sorry, i couldn't find any host ", "hostunknown", ""),                 # qmail
    ("sorry. although i'm listed as a best-preference mx or a for that host", "networkerror", ""),  # qmail
    ("requested action not taken: mailbox unavailable (not enough free space)", "systemfull", ""),  # qmail
    ("no mailbox here by that name", "userunknown", ""),                    # qmail-local
    ("disk quota exceeded", "mailboxfull", ""),                              # qmail, errno EDQUOT
    ("mailaddress is administrativ", "suspend", ""),                         # qmail-ldap
    ("the message exeeded the maximum size the user accepts", "exceedlimit", ""),  # qmail-ldap
    ("all host address lookups failed permanently", "hostunknown", ""),     # Exim
    ("all relevant mx records point to non-existent hosts", "hostunknown", ""),  # Exim
    ("an mx or srv record indicated no smtp service", "notaccept", ""),     # Exim
    ("no host found for existing smtp connection", "notaccept", ""),        # Exim
    ("mailbox is full", "mailboxfull", ""),                                  # Exim appendfile
    ("error: quota exceed", "mailboxfull", ""),                              # Exim
    ("angle-brackets nested too deep", "syntaxerror", ""),                  # Exim address parser
    ('expected word or "<"', "syntaxerror", ""),                             # Exim
    ("domain missing in source-routed address", "syntaxerror", ""),         # Exim
    ("delivery to file forbidden", "systemerror", ""),                      # Exim
    ("delivery to pipe forbidden", "systemerror", ""),                      # Exim
    ("lmtp error after ", "systemerror", ""),                               # Exim
    ('too many "received" headers', "contenterror", ""),                     # Exim
    ("duplicated message-id", "systemerror", ""),                           # fml
    ("://groups.google.com/", "rejected", ""),                               # Google Groups: may not post
    ("did not accept our requests to connect", "expired", ""),              # Gmail, after retrying
    ("dns error: could not contact dns servers", "expired", ""),            # Gmail
    ("delivery to the following recipient has been delayed", "expired", ""),  # Gmail
    ("dns error: domain name not found", "hostunknown", ""),                # Gmail
    ("dns error: dns server returned answer with no data", "hostunknown", ""),  # Gmail
    ("envelope expired", "expired", ""),                                     # OpenSMTPD
    ("could not deliver for the last", "expired", ""),                       # DragonFly Mail Agent
)

#: RFC 3463 status -> reason (Sisimai's smtp/status table; 4.2.1 and 5.2.1 as Sisimai has them).
STATUS_REASONS: Final[dict[str, str]] = {
    "4.1.6": "hasmoved", "4.1.7": "rejected", "4.1.8": "rejected", "4.1.9": "systemerror", "4.2.1": "suspend",
    "4.2.2": "mailboxfull", "4.2.3": "exceedlimit", "4.2.4": "filtered", "4.3.1": "systemfull", "4.3.2": "notaccept",
    "4.3.3": "systemerror", "4.3.5": "systemerror", "4.4.1": "expired", "4.4.2": "networkerror", "4.4.3": "systemerror",
    "4.4.4": "networkerror", "4.4.5": "systemfull", "4.4.6": "networkerror", "4.4.7": "expired", "4.4.8": "networkerror",
    "4.5.3": "systemerror", "4.5.5": "systemerror", "4.6.0": "contenterror", "4.6.2": "contenterror",
    "4.6.5": "contenterror", "4.7.1": "blocked", "4.7.2": "blocked", "4.7.5": "securityerror", "4.7.6": "securityerror",
    "4.7.7": "securityerror", "4.7.12": "securityerror", "4.7.15": "securityerror", "4.7.16": "mesgtoobig",
    "4.7.24": "authfailure", "4.7.25": "requireptr", "4.7.26": "authfailure",
    "5.1.0": "userunknown", "5.1.1": "userunknown", "5.1.2": "hostunknown", "5.1.3": "userunknown", "5.1.4": "filtered",
    "5.1.6": "hasmoved", "5.1.7": "rejected", "5.1.8": "rejected", "5.1.9": "systemerror", "5.1.10": "notaccept",
    "5.2.0": "filtered", "5.2.1": "filtered", "5.2.2": "mailboxfull", "5.2.3": "exceedlimit", "5.2.4": "filtered",
    "5.3.0": "systemerror", "5.3.1": "systemfull", "5.3.2": "notaccept", "5.3.3": "systemerror", "5.3.4": "mesgtoobig",
    "5.3.5": "systemerror", "5.4.0": "networkerror", "5.4.3": "systemerror", "5.4.4": "hostunknown",
    "5.5.2": "syntaxerror", "5.5.3": "toomanyconn", "5.5.4": "systemerror", "5.5.5": "systemerror", "5.5.6": "syntaxerror",
    "5.6.0": "contenterror", "5.6.1": "contenterror", "5.6.2": "contenterror", "5.6.3": "contenterror",
    "5.6.5": "contenterror", "5.6.6": "contenterror", "5.6.7": "contenterror", "5.6.8": "contenterror",
    "5.6.9": "contenterror", "5.7.0": "securityerror", "5.7.1": "securityerror", "5.7.2": "securityerror",
    "5.7.3": "securityerror", "5.7.4": "securityerror", "5.7.5": "securityerror", "5.7.6": "securityerror",
    "5.7.7": "securityerror", "5.7.8": "securityerror", "5.7.9": "securityerror", "5.7.10": "securityerror",
    "5.7.11": "securityerror", "5.7.13": "suspend", "5.7.14": "securityerror", "5.7.15": "securityerror",
    "5.7.16": "mesgtoobig", "5.7.17": "hasmoved", "5.7.18": "hasmoved", "5.7.19": "securityerror",
    "5.7.20": "authfailure", "5.7.21": "authfailure", "5.7.22": "authfailure", "5.7.23": "authfailure",
    "5.7.24": "authfailure", "5.7.25": "requireptr", "5.7.26": "authfailure", "5.7.27": "notaccept",
    "5.7.28": "spamdetected", "5.7.29": "authfailure", "5.7.30": "failedstarttls",
}

#: Reasons that say too little: the phrases and the other signals are asked again.
RETRY: Final[frozenset[str]] = frozenset({
    "", "undefined", "onhold", "systemerror", "securityerror", "expired", "networkerror", "hostunknown", "userunknown",
})

#: SMTP commands sent before DATA: an answer to them cannot be about the message content.
EXCEPT_DATA: Final[frozenset[str]] = frozenset({"CONN", "EHLO", "HELO", "MAIL", "RCPT"})

#: Phrase-only probes after the status-aware ones (Sisimai's second class order).
SECOND_ORDER: Final[tuple[str, ...]] = (
    "mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected", "virusdetected", "policyviolation",
    "norelaying", "systemerror", "networkerror", "suspend", "contenterror", "systemfull", "notaccept", "expired",
    "failedstarttls", "securityerror", "mailererror",
)


def status_reason(status: str) -> str:
    """The reason an RFC 3463 status stands for by itself ("" when the code says nothing specific)."""
    return STATUS_REASONS.get(status, "")


class _Hits:
    """Which reasons' phrases one text contains, each list searched at most once."""

    __slots__ = ("text", "memo")

    def __init__(self, text: str) -> None:
        self.text = text
        self.memo: dict[str, bool] = {}

    def __call__(self, reason: str) -> bool:
        found = self.memo.get(reason)
        if found is None:
            found = self.memo[reason] = PHRASES[reason](self.text)
        return found


def _probe(reason: str, name: str, status: str, reply: str, has: _Hits, command: str) -> bool:
    """Sisimai's status-, command- and text-aware test of one reason (the first class order)."""
    if reason == "mailboxfull":
        return name == "mailboxfull" or has(reason)
    if reason == "mesgtoobig":
        if name == "mesgtoobig":
            return True
        if name == "exceedlimit" or status == "5.2.3":
            return False
        return has(reason)
    if reason == "exceedlimit":
        return name == "exceedlimit" or has(reason)
    if reason == "suspend":
        return reply == "525" or has(reason)
    if reason == "hasmoved":
        return has(reason)
    if reason == "norelaying":
        return command not in ("CONN", "EHLO", "HELO") and has(reason)
    if reason == "authfailure":
        return name == "authfailure" or has(reason)
    if reason == "userunknown":
        if name == "suspend":
            return False
        if name == "userunknown":
            # a 5.1.1 whose text names another problem is that problem
            return not any(has(o) for o in ("norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept"))
        return command == "RCPT" and has(reason)
    if reason == "filtered":
        if name == "suspend":
            return False
        if name == "filtered":
            return has("userunknown") or has(reason)
        # an "unknown user" answer after DATA is the recipient's filter, not a dead mailbox
        return command not in EXCEPT_DATA and (has(reason) or has("userunknown"))
    if reason == "requireptr":
        return name == "requireptr" or has(reason)
    if reason in ("notcompliantrfc", "badreputation", "speeding"):
        return has(reason)
    if reason == "contenterror":
        if _probe("spamdetected", name, status, reply, has, command):
            return False
        return name == "contenterror" or has(reason)
    if reason == "rejected":
        if name == "rejected":
            return True
        if command == "MAIL":
            return has(reason)
        if command == "DATA" and name != "userunknown":
            return has(reason)
        return name in ("", "undefined", "onhold", "securityerror", "systemerror") and has(reason)
    if reason == "hostunknown":
        if name == "hostunknown":
            return not has("networkerror")
        return has(reason)
    if reason == "spamdetected":
        if not status:
            return False
        if name == "spamdetected":
            return True
        return command not in EXCEPT_DATA and has(reason)
    if reason == "toomanyconn":
        return name == "toomanyconn" or has(reason)
    if reason == "blocked":
        return name == "blocked" or has(reason)
    return False


#: Status-aware probes, in order (Sisimai's first class order).
FIRST_ORDER: Final[tuple[str, ...]] = (
    "mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "authfailure", "userunknown",
    "filtered", "requireptr", "notcompliantrfc", "badreputation", "contenterror", "rejected", "hostunknown",
    "spamdetected", "speeding", "toomanyconn", "blocked",
)


_CONTINUATION_RE = re.compile(r"\b([245]\d\d)[- ]([245]\.\d{1,3}\.\d{1,3}) ")


def fold(text: str) -> str:
    """Lower-case with runs of white space folded to one space (for matching).

    A multi-line SMTP answer repeats its codes on every line ("550-5.7.1 This
    message ... 550-5.7.1 authentication checks"); the repetitions are dropped
    so that a phrase split over two lines still matches.
    """
    folded = _WS_RE.sub(" ", text).strip().lower()
    first = _CONTINUATION_RE.search(folded)
    if first is not None and folded.count(first.group(2), first.end()) > 0:
        lead = folded[: first.end()]
        rest = folded[first.end():]
        for sep in ("-", " "):
            rest = rest.replace(f"{first.group(1)}{sep}{first.group(2)} ", "")
        folded = lead + rest
    return folded


#: SMTP commands as MTAs quote them (upper case, not part of a word, an address or a host name).
_COMMAND_RE = re.compile(r"(?<![\w@.-])(HELO|EHLO|STARTTLS|AUTH|MAIL FROM|MAIL|RCPT TO|RCPT|DATA)(?![\w@-])")
#: The later the stage, the more it says: the session got at least that far.
_COMMAND_STAGE: Final[dict[str, tuple[int, str]]] = {
    "HELO": (1, "HELO"), "EHLO": (1, "HELO"), "STARTTLS": (2, "STARTTLS"), "AUTH": (3, "AUTH"),
    "MAIL FROM": (4, "MAIL"), "MAIL": (4, "MAIL"), "RCPT TO": (5, "RCPT"), "RCPT": (5, "RCPT"), "DATA": (6, "DATA"),
}


#: Fixed sentences that name the stage of the session instead of the command (qmail-remote, 1&1).
_QMAIL_STAGES: Final[tuple[tuple[str, str], ...]] = (
    (" but greeting failed.", "CONN"), (" but my name was rejected.", "HELO"), (" but sender was rejected.", "MAIL"),
    (" does not like recipient.", "RCPT"), (" failed on data command", "DATA"), (" failed after i sent the message", "DATA"),
    ("smtp error from remote server for text command", "DATA"),  # 1&1, GMX, web.de: the message body was refused
)


def _stage_sentence(text: str) -> tuple[str, str]:
    """(sentence, SMTP command) of the first session-stage sentence in ``text``, ("", "") if none."""
    for phrase, command in _QMAIL_STAGES:
        if phrase in text:
            return phrase, command
    return "", ""


def _qmail_stage(text: str) -> str:
    return _stage_sentence(text)[1]


def command_in(text: str) -> str:
    """The SMTP command a diagnostic names ("SMTP error ... after RCPT TO:", "SMTP:RCPT host ...", "end of DATA").

    ``text`` is the diagnostic as received: commands are recognised in upper
    case only, like Sisimai does, so the word "data" in prose is no command.
    When several are named, the latest stage of the session wins.
    """
    stage = _qmail_stage(text.lower())
    if stage:
        return stage
    best = (0, "")
    for m in _COMMAND_RE.finditer(text[:MAX_TEXT]):
        best = max(best, _COMMAND_STAGE[m.group(1)])
    return best[1]


#: Gmail's "(state N)" after the remote's answer: the SMTP stage it failed at, and what that stage means
#: when the answer's own status code is missing or generic (Sisimai's lhost/gmail table).
_GMAIL_STATES: Final[dict[str, tuple[str, str]]] = {
    "6": ("MAIL", "failedstarttls"), "8": ("AUTH", ""), "9": ("AUTH", "failedstarttls"), "12": ("AUTH", "norelaying"),
    "13": ("EHLO", "blocked"), "14": ("RCPT", ""), "15": ("DATA", "filtered"), "17": ("DATA", "filtered"),
    "18": ("DATA", "filtered"),
}
_GMAIL_STATE_RE = re.compile(r"\(state (\d{1,2})\)")


def gmail_state(text: str, status: str) -> tuple[str, str]:
    """(SMTP command, reason) from Gmail's "(state N)" marker; reason "" when the status code says more."""
    m = _GMAIL_STATE_RE.search(text)
    if m is None or m.group(1) not in _GMAIL_STATES:
        return "", ""
    command, reason = _GMAIL_STATES[m.group(1)]
    inner = find_status(text) or status
    if inner and ".0" not in inner and status_reason(inner):
        reason = ""  # "550 5.2.2 ... Mailbox Full (state 14)": the code is more precise than the stage
    return command, reason


#: Sentences that speak for a whole report, not for one of its recipients: only these are read in the
#: report's prose (a "mailbox is full" there may be about another recipient of the same report).
REPORT_SENTENCES: Final[tuple[tuple[str, str, str], ...]] = (
    ("the user(s) account is disabled", "suspend", ""),                     # au EZweb
    ("the user(s) account is temporarily limited", "suspend", ""),          # au EZweb
    ("the user(s) account is temporarily over quota", "mailboxfull", ""),   # au EZweb
    ("://groups.google.com/", "rejected", ""),                               # Google Groups: may not post
)


#: Sentences that mean something only in one product's reports: (product marker in the report, phrase, reason).
PRODUCT_SENTENCES: Final[tuple[tuple[str, str, str], ...]] = (
    # Trend Micro InterScan MSS writes no SMTP answer, only this line, for a recipient the next hop refused
    ("interscan", "unable to deliver message to <", "userunknown"),
)


def product_reason(text: str, markers: tuple[str, ...]) -> str:
    """The reason of a sentence that only one product writes, when the report shows that product's marker."""
    for marker, phrase, reason in PRODUCT_SENTENCES:
        if phrase in text and (marker in markers or marker in text):
            return reason
    return ""


def vendor_reason(text: str, status: str, table: tuple[tuple[str, str, str], ...] = VENDOR) -> str:
    """The reason a known MTA's or provider's fixed sentence gives, "" if none appears."""
    for phrase, reason, klass in table:
        if phrase in text and (not klass or status[:1] == klass):
            return reason
    return ""


@lru_cache(maxsize=8192)
def _decide(status: str, reply: str, text: str, command: str, action: str, diagnostic_type: str) -> str:
    """Sisimai's general decision: status-aware probes in order, then the status, phrases and fallbacks."""
    name = status_reason(status)
    has = _Hits(text)
    if diagnostic_type in ("SMTP", ""):
        for reason in FIRST_ORDER:
            if _probe(reason, name, status, reply, has, command):
                return reason
    # nothing specific yet: the status, then the phrases of the second order
    if name in RETRY or diagnostic_type not in ("SMTP", ""):
        for reason in SECOND_ORDER:
            if has(reason):
                return reason
        if name:
            return name
        if status[:3] in ("5.6", "4.6"):
            return "contenterror"
        if status[:3] in ("5.7", "4.7"):
            return "securityerror"
        if diagnostic_type.startswith("X-UNIX"):
            return "mailererror"
        if reply.isdigit() and (400 < int(reply) < 408 or 500 < int(reply) < 508):
            return "syntaxerror"
        if action in ("delayed", "expired"):
            return "expired"
        if command in ("CONN", "HELO", "EHLO"):
            return "blocked"
    return name


def find_reason(
    status: str,
    reply: str,
    diagnostic: str,
    *,
    command: str = "",
    action: str = "",
    diagnostic_type: str = "",
    gave_up: bool = False,
    remote_host: str = "",
    domain: str = "",
    local_host: str = "",
    context: str = "",
) -> str:
    """Decide the fine reason of one recipient.

    ``status`` is the RFC 3463 code (``5.1.1``), ``reply`` the SMTP reply code,
    ``diagnostic`` the remote's answer, ``command`` the SMTP command it
    answered (``RCPT``, ``MAIL``, ``DATA``, ``HELO``), ``action`` the DSN
    action, ``diagnostic_type`` the DSN's Diagnostic-Code type (``SMTP``,
    ``X-Postfix``...), ``remote_host`` the remote MTA's name, ``domain``
    the recipient's domain and ``local_host`` the reporting MTA's name (they
    choose a vendor table).  ``context`` is the report's human-readable text:
    a known MTA's fixed sentence there ("The user(s) account is disabled.")
    names the problem even when the SMTP answer is generic.  A report that
    gave up after retrying a network problem is ``expired``.
    """
    if status.startswith("2"):
        return "delivered"
    stage, report_reason, markers = _context_facts(context[: MAX_TEXT * 2]) if context else (("", ""), "", ())
    return _find_reason(status, reply, diagnostic[: MAX_TEXT * 2], command, action, diagnostic_type, gave_up,
                        remote_host, domain, local_host, stage, report_reason, markers)


@lru_cache(maxsize=256)
def _context_facts(context: str) -> tuple[tuple[str, str], str, tuple[str, ...]]:
    """What a report's prose tells about all its recipients: session stage, report-level reason, product markers."""
    folded = fold(context)[:MAX_TEXT]
    markers = tuple(marker for marker, _, _ in PRODUCT_SENTENCES if marker in folded)
    return _stage_sentence(folded), vendor_reason(folded, "", REPORT_SENTENCES), markers


def prefer_status(status: str, inner: str, reply: str) -> str:
    """The more telling of the DSN's ``Status:`` and the status inside the remote's answer (Sisimai's rule).

    The answer's own code wins over a generic field (``5.0.0``, ``5.1.0``), over
    codes that only say "something failed" (4.4.7, 4.7.0, 5.3.x, x.5.x), and
    over a 5.1.1 that a reporting MTA put on an answer saying something else.
    """
    if not status or len(status) < 5:
        return inner or status
    if not inner or len(inner) < 5 or inner == status:
        return status
    if reply[:1] in ("2", "4", "5") and status[0] != inner[0]:
        if reply[0] == status[0]:
            return status
        if reply[0] == inner[0]:
            return inner
    zero_s, zero_i = ".0" in status, ".0" in inner
    if ".0.0" in status:
        return status if ".0.0" in inner else inner
    if zero_s and not zero_i:
        return inner
    if ".0.0" in inner:
        return status
    if status in ("4.4.7", "4.7.0") or status.startswith("5.3.") or status[1:5] in (".5.1", ".5.2", ".5.4", ".5.5"):
        return inner
    if status == "5.1.1":
        return status if zero_i or inner.startswith("5.5.") else inner
    if status == "5.1.3" and inner.startswith("5.7."):
        return inner
    return status


@lru_cache(maxsize=4096)
def _find_reason(
    status: str, reply: str, diagnostic: str, command: str, action: str, diagnostic_type: str, gave_up: bool,
    remote_host: str, domain: str, local_host: str, stage_in_context: tuple[str, str], report_reason: str,
    markers: tuple[str, ...],
) -> str:
    """``find_reason`` on plain, hashable arguments: identical answers recur in a mailbox, so decisions are cached."""
    text = fold(diagnostic)[:MAX_TEXT]
    status = prefer_status(status, find_status(text), reply)
    dtype = diagnostic_type.upper()
    if dtype.startswith("X-") and dtype != "X-UNIX":
        dtype = "X-OTHER" if dtype != "X-POSTFIX" else "X-POSTFIX"
    stage, reason = gmail_state(text, status) if "(state " in text else ("", "")
    if stage:
        command = stage
    if not command:
        command = command_in(" ".join(diagnostic.split()))
        if not command and stage_in_context[1]:
            # "Connected to 192.0.2.1 but sender was rejected." stands on the line before the answer: read both
            command = stage_in_context[1]
            text = f"{stage_in_context[0].strip()} {text}"
    if not reason:
        reason = vendor_reason(text, status) or product_reason(text, markers)
    if not reason and text:
        reason = rhost_reason(domain.lower(), remote_host.lower(), status, reply, text, command, local_host)
    if not reason:
        reason = report_reason
    if not reason:
        reason = _decide(status, reply, text, command, action, dtype)
    if not reason and dtype == "X-POSTFIX":
        reason = "mailererror" if PHRASES["mailererror"](text) else ""
    if (action == "delayed" or (gave_up and status[:1] == "4")) and reason in ("", "onhold", "undefined"):
        reason = "expired"
    if not reason:
        reason = "onhold" if text else "undefined"
    return reason


_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")


def find_status(text: str) -> str:
    """The first RFC 3463 status code in ``text`` ("" if none)."""
    m = _STATUS_RE.search(text)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else ""
