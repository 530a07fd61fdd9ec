"""From status code, reply code and diagnostic text to a fine reason.

The vocabulary is the one of ``models.taxonomy.REASONS``.  The diagnostic
text is the strongest signal because the status is so often a bare ``5.0.0``
or ``5.7.1``; the phrases below are what real MTAs write (English, German,
French, Spanish, Italian, Dutch, Norwegian, Portuguese, Russian, Japanese,
Chinese...).  They are matched on lower-cased text with folded whitespace,
in priority order: the more specific meaning first (a "mailbox full" text
under a 5.1.1 status is a full mailbox).  Patterns are plain alternations
without nested quantifiers so that no input can make them slow.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

_WS_RE = re.compile(r"\s+")


def _rx(*phrases: str) -> re.Pattern[str]:
    return re.compile("|".join(phrases))


#: (reason, pattern) in the order they are tried.
TEXT_RULES: Final[list[tuple[str, re.Pattern[str]]]] = [
    ("authfailure", _rx(
        r"\bspf (?:check )?fail", r"\bspf: ", r"spf record", r"sender policy framework", r"\bdmarc\b",
        r"\bdkim\b(?! signature)", r"5\.7\.2[0-46]\b", r"5\.7\.509", r"does not pass (?:dmarc|spf|dkim)",
        r"authentication (?:results|checks) fail", r"unauthenticated email", r"not authorized to send on behalf",
        r"sender (?:domain )?(?:is )?not authenticated", r"sending domain .{0,60}does not pass",
        r"email authentication requirements", r"spf/dkim",
    )),
    ("requireptr", _rx(
        r"5\.7\.25\b", r"reverse dns", r"\brdns\b", r"\bptr record", r"no ptr", r"ptr lookup",
        r"cannot find your hostname", r"cannot resolve your (?:ip|address|hostname)",
        r"(?:client|your) host name? (?:is )?unknown", r"reverse (?:lookup|hostname|dns)",
        r"ip name lookup failed", r"unresolvable (?:ip|address)", r"no reverse", r"lookup of your ip address failed",
        r"doesn't have (?:a )?ptr", r"client host rejected: cannot find your", r"not resolve your ip",
        r"domain name of your (?:mail )?server", r"(?:ip|host)name (?:of .{1,40} )?(?:could not|can ?not) be resolved",
        r"without a valid hostname", r"hostname does not match",
    )),
    ("mesgtoobig", _rx(
        r"message (?:size |length )?(?:exceeds|too (?:big|large)|is too large)", r"too (?:big|large) for",
        r"exceeds (?:the )?(?:maximum|max|size|message size)", r"message size exceeds", r"size limit",
        r"mail size limit", r"5\.3\.4\b", r"message is larger than", r"message file too big",
        r"taille du message", r"nachricht ist zu gro", r"message too big",
    )),
    ("exceedlimit", _rx(
        r"5\.2\.3\b", r"exceeds? (?:the )?(?:local |maximum )?(?:limit|message limit)", r"message too long",
        r"exceeds the size allowed", r"too many (?:messages|mails) for this user",
    )),
    ("mailboxfull", _rx(
        r"mailbox (?:is )?full", r"mail ?box (?:has )?(?:exceeded|over) ", r"over (?:the )?quota", r"over ?quota",
        r"quota (?:exceeded|full|violation)", r"exceeded (?:the |their |his |her |storage |disk )*(?:quota|allocation|storage)",
        r"exceeds? (?:the |their |his |her )*(?:quota|storage)", r"(?:disk|storage) quota", r"mailbox size limit", r"mailbox exceeds", r"exceeds allowed size",
        r"insufficient (?:disk )?(?:space|storage)", r"not enough (?:disk )?(?:space|storage)",
        r"user(?:'s)? (?:mailbox|account) is (?:over|full)", r"mailfolder is full", r"mailbox (?:exceeded|too big)",
        r"postfach (?:ist )?voll", r"speicherplatz", r"boite (?:aux lettres )?pleine", r"boîte (?:aux lettres )?pleine",
        r"buz[oó]n (?:lleno|completo)", r"casella (?:piena|di posta piena)", r"mailbox vol", r"postkasse (?:er )?full",
        r"caixa (?:postal )?(?:cheia|lotada)", r"ящик переполнен", r"переполнен", r"容量", r"满",
        r"account is full", r"is full and cannot accept", r"full mailbox", r"mailbox has no space",
        r"out of storage", r"quota", r"5\.2\.2\b",
    )),
    ("hasmoved", _rx(
        r"\bhas moved\b", r"address has changed", r"no longer (?:at|with) ", r"5\.1\.6\b", r"moved permanently",
        r"user has moved", r"address changed",
    )),
    ("suspend", _rx(
        r"(?:account|mailbox|user|address|recipient)(?: has been| is|'s account is) (?:temporarily )?(?:disabled|suspended|deactivated|inactive|frozen|locked|blocked by administrator)",
        r"(?:disabled|suspended|inactive|deactivated|frozen|expired|locked) (?:user|account|mailbox|recipient)",
        r"account (?:disabled|suspended|inactive|deactivated|frozen|expired|locked)",
        r"mailbox (?:disabled|suspended|inactive|deactivated|unavailable due to inactivity)",
        r"recipient (?:suspended|disabled|inactive)", r"not (?:an )?active", r"user (?:is )?not active",
        r"this account has been", r"5\.2\.1 .{0,40}(?:disabled|inactive|suspend)", r"5\.7\.13\b",
        r"konto (?:ist )?(?:deaktiviert|gesperrt)", r"compte (?:désactivé|desactive|suspendu)",
        r"cuenta (?:desactivada|suspendida|inactiva)", r"аккаунт (?:заблокирован|отключен)",
        r"usuario (?:inactivo|suspendido)", r"mailbox unavailable due to", r"has been disabled",
        r"temporarily (?:disabled|suspended)", r"is disabled", r"disabled by",
    )),
    ("norelaying", _rx(
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)", r"not permitted to relay",
        r"unable to relay", r"no relaying", r"relay not permitted", r"relaying mail to .{1,60} is not allowed",
        r"we do not relay", r"not a gateway", r"relay(?:ing)? denied", r"relay access", r"does not relay",
        r"(?:isn't|is not) in my list of allowed rcpthosts", r"cannot relay", r"relaying disallowed",
        r"open relay", r"5\.7\.64\b", r"relay attempt",
    )),
    ("notaccept", _rx(
        r"null mx", r"5\.1\.10\b", r"5\.7\.27\b", r"does not accept (?:any )?(?:e-?)?mail", r"accepts? no mail",
        r"not accepting (?:any )?mail", r"no mail ?exchangers?", r"domain does not receive mail",
        r"doesn't accept mail", r"nullmx", r"no mx record", r"(?:couldn't|could not|cannot|can't) find (?:a |any )?mail exchanger",
    )),
    ("userunknown", _rx(
        r"user(?:name)? (?:is )?unknown", r"unknown (?:user|recipient|mailbox|local[- ]?part|address|e-?mail address)",
        r"no such (?:user|mailbox|recipient|person|address|account|local user)", r"user (?:does not|doesn't) exist",
        r"(?:user|recipient|mailbox|account|address|addressee)(?: name)? (?:does not|doesn't|did not) exist",
        r"(?:user|recipient|mailbox|address|account)(?: was)? not found", r"(?:invalid|bad|unknown|nonexistent|non-existent|inexistent) (?:recipient|mailbox|user|address|destination)",
        r"(?:recipient|address|mailbox|user) (?:is )?(?:invalid|not valid|unknown)", r"not a valid (?:user|recipient|mailbox|address)",
        r"is not a known user", r"mailbox (?:is )?unavailable", r"mailbox not (?:present|available|found)",
        r"no mailbox (?:here|by that name|found)", r"unrouteable address", r"unroutable address",
        r"address (?:rejected|unknown|not present)", r"not our customer", r"no account by that name",
        r"recipnotfound", r"recipient ?not ?found", r"adr\.recip", r"resolver\.adr", r"user not (?:known|exist|found)",
        r"user missing home directory", r"invalid .{0,20}userid", r"doesn't have a .{1,40} account", r"does not have an account",
        r"no mail box", r"mailbox does not exist", r"email account that you tried to reach does not exist",
        r"(?:recipient|user|mailbox|address) (?:rejected|refused)",
        r"badrcptto", r"validrcptto", r"is not a valid mailbox", r"not listed in", r"couldn't be found",
        r"could not be found", r"isn't valid", r"not a local address", r"mailbox invalid",
        r"(?:denied|rejected)[:,]? (?:unknown|invalid)", r"address does not exist", r"e-?mail address does not exist",
        r"there is no one at this address", r"destination addresses were unknown", r"recipient .{0,40} unknown",
        r"benutzer (?:unbekannt|existiert nicht)", r"unbekannte?r? (?:empf[aä]nger|benutzer|adresse)",
        r"empf[aä]nger (?:unbekannt|existiert nicht|nicht gefunden)", r"adresse (?:existiert nicht|unbekannt)",
        r"utilisateur (?:inconnu|inexistant)", r"destinataire (?:inconnu|inexistant|invalide)", r"adresse (?:inconnue|invalide|inexistante)",
        r"n'existe pas", r"usuario (?:desconocido|inexistente|no existe)", r"no existe (?:dicha persona|ese usuario|el usuario|la cuenta)",
        r"direcci[oó]n (?:inexistente|no existe|desconocida)", r"destinatario (?:inesistente|sconosciuto|non esiste)",
        r"utente (?:sconosciuto|inesistente)", r"nessun utente", r"gebruiker (?:onbekend|bestaat niet)",
        r"onbekende (?:gebruiker|ontvanger)", r"bestaat niet", r"ukjent (?:bruker|mottaker|adresse)",
        r"finnes ikke", r"eksisterer ikke", r"okänd (?:användare|mottagare)", r"finns inte",
        r"usu[aá]rio (?:desconhecido|inexistente|n[aã]o existe)", r"n[aã]o existe", r"пользователь не найден",
        r"нет такого пользователя", r"адрес не существует", r"не существует", r"宛先(?:が|の)?(?:見つかり|存在し)",
        r"存在しない", r"存在しません", r"不存在", r"無効なアドレス", r"ユーザ(?:ー)?が(?:存在|見つかり)",
    )),
    ("hostunknown", _rx(
        r"host (?:or domain name )?not found", r"host unknown", r"unknown host", r"domain (?:not found|does not exist|unknown|name not found)",
        r"(?:unknown|invalid|nonexistent|non-existent) domain", r"name or service not known", r"no such domain",
        r"nxdomain", r"mx (?:record )?(?:not found|lookup failed)", r"no (?:valid )?mx", r"domain .{0,60} does not exist",
        r"unrouteable mail domain", r"unrouteable domain", r"host name lookup failure", r"unable to resolve",
        r"host not found", r"domain (?:name )?is not (?:valid|found)", r"dns (?:error|lookup)[: ].{0,60}(?:not found|nxdomain|does not exist)",
        r"5\.1\.2\b", r"5\.4\.4\b", r"domaine (?:inconnu|inexistant)", r"dominio (?:inexistente|desconocido|no existe)",
        r"unknown mail domain", r"domain .{0,20} not (?:exist|found)", r"(?:^|[\s:])(?:[a-z0-9-]{1,63}\.){1,6}[a-z]{2,24}:? does not exist",
    )),
    ("virusdetected", _rx(
        r"\bvirus", r"malware", r"infected", r"malicious (?:content|attachment|software)", r"trojan", r"worm detected",
    )),
    ("spamdetected", _rx(
        r"\bspam\b(?! ?trap)", r"\bspam(?:my|ish|like)\b", r"unsolicited", r"junk mail", r"bulk mail",
        r"content (?:filter|rejected|was rejected)", r"message (?:content )?(?:rejected|refused) as spam",
        r"classified as (?:spam|junk)", r"considered (?:spam|unsolicited)", r"looks like spam", r"spam score",
        r"detected as spam", r"scored as spam", r"spamassassin", r"high probability of spam", r"uce\b",
        r"suspicious content", r"message content rejected", r"content not accepted", r"\bpolicy.{0,20}spam",
        r"courrier indésirable", r"pourriel", r"スパム", r"迷惑メール", r"垃圾邮件",
    )),
    ("badreputation", _rx(
        r"reputation", r"poor sender", r"low sender score", r"ip (?:has been |was )?(?:temporarily )?deferred due to",
        r"temporarily deferred due to unexpected volume", r"sender score", r"ts0[1-4]\b", r"user complaints",
    )),
    ("toomanyconn", _rx(
        r"too many (?:connections|concurrent|simultaneous|recipients(?! (?:this|per|an|each) )|sessions|hosts)", r"connection (?:limit|rate|frequency)",
        r"5\.5\.3\b", r"4\.3\.2\b", r"maximum (?:number of )?(?:connections|recipients)", r"too many rcpt",
        r"try again later.{0,40}too many", r"exceeded .{0,30}connections",
    )),
    ("speeding", _rx(
        r"too many recipients (?:this|per|an|each) (?:hour|day|minute)", r"rate limit", r"rate-limit", r"ratelimit", r"sending rate", r"too fast", r"too many (?:messages|mails|emails) (?:sent|from|in)",
        r"exceeded (?:the )?(?:rate|sending)", r"throttl", r"slow down", r"velocity", r"frequency",
    )),
    ("blocked", _rx(
        r"blacklist", r"black list", r"blocklist", r"block list", r"denylist", r"\bdnsbl\b", r"\brbl\b", r"spamhaus",
        r"spamcop", r"barracuda ?central", r"sorbs", r"(?:ip|address|host|client|connection|server)(?: address)? (?:\S{1,60} )?(?:is |has been |was )?(?:blocked|blacklisted|banned|denied|refused|rejected|not allowed)",
        r"blocked (?:by|using|for|due|because|from)", r"(?:your|the sending|sending|our) (?:ip|server|mail server|host|network|domain)",
        r"client host rejected", r"access denied", r"connection refused", r"refused to talk", r"listed (?:at|on|in|by)",
        r"banned", r"not allowed to (?:send|connect)", r"poor reputation", r"rejected by (?:the )?(?:remote|recipient)?.{0,20}(?:server|host)",
        r"service (?:not available|unavailable)", r"5\.7\.606", r"5\.7\.511", r"block(?:ed)? (?:ip|list|address)",
        r"rejecting mail from", r"we do not accept mail from", r"helo", r"ehlo", r"mail from .{0,60} refused",
        r"hostname .{0,40} (?:blocked|not allowed)", r"\bblocked\b",
    )),
    ("rejected", _rx(
        r"sender (?:address |domain )?(?:rejected|refused|denied|unknown|invalid|verify failed|not (?:allowed|accepted|authorized))",
        r"(?:mail from|envelope sender|return path|sender address|sender domain)(?: address)? (?:is )?(?:rejected|refused|denied|invalid|unknown|not)",
        r"domain of sender address", r"5\.1\.[78]\b", r"sender verification", r"sender verify",
        r"your (?:e-?mail )?address (?:has been|is) (?:rejected|blocked)", r"not allowed to post", r"do not have permission to post",
        r"permission to post", r"not authorized to post", r"you (?:are not|aren't) allowed to send", r"only members can post",
        r"google groups", r"this group", r"not permitted to send", r"rejected (?:sender|from)", r"bad sender",
        r"unknown sender", r"invalid sender", r"unroutable sender", r"unrouteable sender", r"from address", r"you have been blocked", r"rejected by recipient",
    )),
    ("filtered", _rx(
        r"refused due to recipient preferences", r"recipient (?:is )?only accepting mail", r"user reject",
        r"refuse(?:s|d)? to receive", r"filtered", r"rejected by (?:the )?(?:recipient|user)", r"not accepting mail from",
        r"recipient has (?:rejected|blocked)", r"blocked by (?:the )?recipient", r"this account is protected",
        r"resolver\.rst\.notauthorized", r"not authorized to send to", r"restricted", r"denied by (?:the )?recipient",
        r"受信拒否", r"拒否",
    )),
    ("contenterror", _rx(
        r"content error", r"invalid (?:mime|header|content)", r"mime (?:error|structure)", r"malformed",
        r"header (?:error|too long|rejected|line)", r"charset", r"8-?bit", r"encoding", r"5\.6\.[0-9]\b",
        r"attachment", r"file type", r"forbidden (?:file|extension)", r"message (?:contains|has) (?:invalid|bad)",
    )),
    ("notcompliantrfc", _rx(
        r"rfc ?5322", r"rfc ?2822", r"rfc ?822", r"not (?:rfc|standards?) compliant", r"non-?compliant",
        r"multiple (?:from|to|subject|date|message-id) headers", r"duplicate header", r"missing (?:date|from|message-id) header",
        r"does not meet .{0,20}(?:rfc|standard)", r"message-id", r"header .{0,30}(?:syntax|format)",
    )),
    ("policyviolation", _rx(
        r"policy", r"prohibited", r"not allowed", r"forbidden", r"violation", r"richtlinie", r"politique",
    )),
    ("securityerror", _rx(
        r"authentication (?:required|failed|error)", r"must (?:be )?authenticat", r"security", r"certificate",
        r"not authorized", r"unauthorized", r"permission denied", r"access (?:not allowed|restricted)",
        r"5\.7\.[0-9]{1,3}",
    )),
    ("failedstarttls", _rx(
        r"starttls", r"\btls\b.{0,40}(?:required|failed|failure|negotiat)", r"must issue a starttls",
        r"encryption required", r"ssl",
    )),
    ("systemfull", _rx(
        r"system (?:is )?full", r"disk full", r"(?:file ?system|disk|queue) (?:is )?full", r"no space left",
        r"insufficient system storage", r"out of disk", r"5\.3\.1\b", r"4\.3\.1\b",
    )),
    ("networkerror", _rx(
        r"network (?:is )?(?:unreachable|error|down)", r"no route to host", r"connection (?:timed out|reset|lost|closed|refused)",
        r"timed? ?out", r"could not connect", r"couldn't connect", r"unable to connect", r"host (?:is )?unreachable",
        r"mail (?:loop|loops) ", r"loop detected", r"too many hops", r"routing loop", r"dns (?:error|failure|lookup|problem|server)",
        r"temporary (?:lookup )?failure", r"name server", r"servfail", r"lookup fail", r"looping", r"mail for .{0,60} loops back",
        r"4\.4\.[0-6]\b", r"5\.4\.[0-6]\b", r"did not accept our requests to connect", r"host not reachable", r"not reachable",
    )),
    ("expired", _rx(
        r"retry (?:time|timeout) (?:not reached|exceeded)", r"message (?:has been )?(?:expired|timed out)",
        r"could not be delivered (?:for|within) ", r"delivery time ?out", r"gave up", r"giving up",
        r"has been delayed", r"(?:queue|delivery) (?:time|lifetime|timeout) exceeded", r"expired",
        r"too long in (?:the )?queue", r"was not delivered within", r"were not able to deliver .{0,40} in", r"for (?:more than |over )?\d+ (?:days|hours)",
        r"4\.4\.7\b", r"delivery attempts? (?:will continue|failed)", r"retry timeout", r"still being retried",
        r"could not be delivered in", r"unable to deliver .{0,80} (?:days|hours)", r"has not been delivered",
        r"temporary failure", r"temporarily (?:deferred|unavailable)", r"deferred",
    )),
    ("systemerror", _rx(
        r"system error", r"internal (?:server )?error", r"server error", r"local error", r"temporary (?:server )?error",
        r"misconfigur", r"configuration error", r"try again later", r"service unavailable", r"processing error",
        r"unexpected error", r"aborted", r"system (?:problem|failure)", r"routing error", r"5\.3\.[0-5]\b", r"4\.3\.[0-5]\b",
    )),
    ("mailererror", _rx(
        r"mailer error", r"unknown mailer", r"command (?:died|failed|exited)", r"exit (?:code|status)", r"x-unix",
        r"program (?:failed|error|exited)", r"procmail", r"\bpipe to\b", r"delivery program", r"local delivery failed",
    )),
    ("syntaxerror", _rx(
        r"syntax error", r"command (?:not )?(?:recognized|unrecognized|not implemented)", r"unrecognized command",
        r"bad sequence of commands", r"line too long", r"5\.5\.[0-4]\b",
    )),
]

#: RFC 3463 status -> reason, most specific first.
STATUS_REASONS: Final[dict[str, str]] = {
    "1.0": "userunknown", "1.1": "userunknown", "1.2": "hostunknown", "1.3": "userunknown", "1.4": "userunknown",
    "1.5": "userunknown", "1.6": "hasmoved", "1.7": "rejected", "1.8": "rejected", "1.9": "userunknown",
    "1.10": "notaccept",
    "2.0": "filtered", "2.1": "suspend", "2.2": "mailboxfull", "2.3": "exceedlimit", "2.4": "mailererror",
    "3.0": "systemerror", "3.1": "systemfull", "3.2": "systemerror", "3.3": "systemerror", "3.4": "mesgtoobig",
    "3.5": "systemerror",
    "4.0": "networkerror", "4.1": "networkerror", "4.2": "networkerror", "4.3": "networkerror", "4.4": "hostunknown",
    "4.5": "networkerror", "4.6": "networkerror", "4.7": "expired",
    "5.0": "syntaxerror", "5.1": "syntaxerror", "5.2": "syntaxerror", "5.3": "toomanyconn", "5.4": "syntaxerror",
    "5.5": "syntaxerror",
    "6.0": "contenterror", "6.1": "contenterror", "6.2": "contenterror", "6.3": "contenterror", "6.4": "contenterror",
    "6.5": "contenterror",
    "7.0": "securityerror", "7.1": "securityerror", "7.2": "securityerror", "7.3": "securityerror", "7.4": "securityerror",
    "7.5": "securityerror", "7.6": "securityerror", "7.7": "securityerror", "7.8": "securityerror", "7.9": "securityerror",
    "7.10": "failedstarttls", "7.11": "failedstarttls", "7.13": "suspend", "7.14": "securityerror",
    "7.15": "securityerror", "7.16": "securityerror", "7.17": "suspend", "7.18": "suspend",
    "7.20": "authfailure", "7.21": "authfailure", "7.22": "authfailure", "7.23": "authfailure", "7.24": "authfailure",
    "7.25": "requireptr", "7.26": "authfailure", "7.27": "notaccept", "7.28": "spamdetected", "7.29": "authfailure",
    "7.30": "authfailure",
}

#: Status details (subject.detail) too generic to say anything the text does not say better.
GENERIC_DETAILS: Final[frozenset[str]] = frozenset({"0.0", "1.0", "2.0", "2.1", "3.0", "4.0", "5.0", "7.0", "7.1"})

#: Text reasons specific enough to override even a specific status code.
STRONG_TEXT: Final[frozenset[str]] = frozenset({
    "mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "authfailure", "requireptr",
    "spamdetected", "virusdetected", "notaccept", "toomanyconn", "speeding",
})

#: Reasons that say no more than "it failed": the SMTP command or the report kind may say more.
_VAGUE: Final[frozenset[str]] = frozenset({"", "onhold", "undefined", "userunknown", "hostunknown", "securityerror", "syntaxerror"})

#: A specific status whose meaning a text match must not override with these reasons.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")


#: Only this much diagnostic text is read: real answers are short, and it bounds the time per message.
MAX_TEXT: Final[int] = 2000

_TIMEOUT_RE = re.compile(r"timed? ?out|did not accept our requests to connect|not reachable|too long in (?:the )?queue")


def fold(text: str) -> str:
    """Lower-case with runs of white space folded to one space (for matching)."""
    return _WS_RE.sub(" ", text).strip().lower()


def status_reason(status: str) -> str:
    """The reason a specific RFC 3463 status stands for, or "" when generic."""
    if not status or status[0] not in "45":
        return ""
    _, _, rest = status.partition(".")
    return STATUS_REASONS.get(rest, "")


@lru_cache(maxsize=4096)
def text_reason(folded: str) -> str:
    """The first reason whose phrases appear in the folded diagnostic text."""
    if not folded:
        return ""
    for reason, rx in TEXT_RULES:
        if rx.search(folded):
            return reason
    return ""


def find_reason(
    status: str,
    reply: str,
    diagnostic: str,
    *,
    command: str = "",
    action: str = "",
    diagnostic_type: str = "",
    gave_up: bool = False,
) -> str:
    """Decide the fine reason of one recipient.

    A specific status code (5.2.2, 5.7.26, 5.1.6...) is trusted unless the
    text names a more specific problem; a generic one (5.0.0, 5.7.1, 5.1.0...)
    only when the text says nothing clearer.  The SMTP command the remote
    answered refines vague answers: "does not exist" to MAIL FROM is about our
    sender (``rejected``), "user unknown" to the message body is the
    recipient's filter (``filtered``), a refusal at connection or HELO is a
    block of our host (``blocked``).  A report that gave up after retrying a
    network problem is ``expired``; an unknown host with a temporary code is a
    DNS failure (``networkerror``), not a dead domain.
    """
    if status.startswith("2"):
        return "delivered"
    folded = fold(diagnostic[:MAX_TEXT * 2])[:MAX_TEXT]
    detail = status.partition(".")[2] if status[:1] in ("4", "5") else ""
    by_status = STATUS_REASONS.get(detail, "")
    by_text = text_reason(folded)
    if by_status and detail not in GENERIC_DETAILS:
        reason = by_status
        if by_text in STRONG_TEXT and by_text != by_status and not (
            by_status == "exceedlimit" and by_text == "mesgtoobig"
        ):
            reason = by_text
    else:
        reason = by_text or by_status
    if command == "MAIL" and reason in _VAGUE | {"blocked"} and by_status != "userunknown":
        reason = "rejected"
    elif command == "HELO" and reason in _VAGUE:
        reason = "blocked"
    elif command == "DATA" and reason == "userunknown" and by_status != "userunknown":
        reason = "filtered"
    if not reason and diagnostic_type in ("X-UNIX", "X-POSTFIX"):
        reason = "mailererror"
    if status.startswith("4") and reason == "hostunknown":
        reason = "networkerror"
    if (gave_up or action == "delayed") and (
        reason in ("", "onhold", "undefined") or (reason == "networkerror" and _TIMEOUT_RE.search(folded))
    ):
        reason = "expired"
    if not reason:
        reason = "onhold" if folded else "undefined"
    return reason


def find_status(text: str) -> str:
    """The first RFC 3463 status code in ``text`` ("" if none)."""
    m = _STATUS_RE.search(text)
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else ""
