"""Free-text non-delivery reports: Postfix, Exim, qmail, Sendmail, Exchange, ...

Most bounces are not RFC 3464 reports but prose with the failed address and
the remote server's answer in it.  Rather than one parser per vendor (which
breaks at every template change), this module reads any of them with general
rules:

* the report text ends where the returned original begins (a separator line
  such as "--- Below this line is a copy of the message." or the first block
  of original headers);
* the failed recipients are the addresses in the report text that are not
  the sender's, the reporter's or a message id;
* each recipient's diagnostic is the text from its first mention to the next
  recipient's, and within it the SMTP reply, the RFC 3463 status and the SMTP
  command the remote answered.

All scanning is bounded: lines are cut at ``MAX_LINE`` characters and address
candidates are found from their ``@`` outward with fixed-width patterns, so a
hostile message cannot trigger catastrophic backtracking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_LINE = 4000
MAX_REPORT = 200_000
MAX_ADDRESSES = 500
MAX_SEGMENT = 8000  # text read about one recipient

# greedy to the end, then back to the last character that cannot be in a local part: linear, unlike
# searching "[local]{1,64}$" from every start position of the window
_LAST_NON_LOCAL_RE = re.compile(r"(?s:.*)[^A-Za-z0-9._%+!#$&'*/=?^`{|}~-]")
_DOMAIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63}){1,8}")
_ORIGINAL_MARKER_RE = re.compile(
    r"^[ \t>]*(?:[-=_*#]{2,}[ \t]*)?(?:"
    r"below this line is a copy of the message|this is a copy of the message|a copy of the original message"
    r"|original message (?:follows|headers?)|original message[ -]*$|the original message (?:is|headers|follows)|original message (?:is )?(?:attached|included)"
    r"|original mail message|original mail as follows|returned message|unsent message below|undelivered message headers"
    r"|message headers follow|original headers|headers of the original|the headers of your message"
    r"|(?:here is|the first|the start of) (?:a copy of |the )?(?:the )?(?:your )?(?:original )?message"
    r"|included is a copy|undelivered message|the message that caused|your message (?:reads|follows)"
    r"|message text follows|original-message|forwarded message|original text follows|text of the message"
    r"|続きはオリジナル|元のメッセージ|原始邮件|ursprüngliche nachricht|message d'origine|mensaje original|messaggio originale"
    r"|oorspronkelijk bericht|opprinnelig melding|ursprungligt meddelande|mensagem original|oryginalna wiadomo|исходное сообщение"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_START_RE = re.compile(
    r"^(?:Return-Path|Received|DKIM-Signature|Message-ID|X-Original-To|Delivered-To|MIME-Version|Authentication-Results):[ \t]",
    re.MULTILINE | re.IGNORECASE,
)
_REPLY_RE = re.compile(r"(?<![\d.#:/-])([245][0-5]\d)(?:[ -]|$)(?![\d.]*\d\.\d{1,3}\.\d{1,3}(?:\.\d)?\b(?! ))", re.MULTILINE)
_REPLY_SIMPLE_RE = re.compile(r"(?:^|[\s:(\[<>#;=\"'])([45][0-5]\d)(?=[ \-,:;)\]]|$)", re.MULTILINE)
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
# the same two, starting at the digits (the preceding character is checked in Python)
_REPLY_CANDIDATE_RE = re.compile(r"([45][0-5]\d)(?=[ \-,:;)\]]|$)", re.MULTILINE)
_REPLY_BEFORE = frozenset(":([<>#;=\"'")
_STATUS_CANDIDATE_RE = re.compile(r"([45])\.(\d{1,3})\.(\d{1,3})(?!\d)")
_COMMAND_RE = re.compile(
    r"(?:in reply to|after|while sending|>>>|did not like our|does not like|rejected|response to|at|during)\s{0,3}"
    r"(?:the\s{1,3})?(?:(end of (?:data|message)|final data|rcpt to|mail from|data|helo|ehlo|starttls|connect|initial connection|recipient|sender|message body|body)\b)",
    re.IGNORECASE,
)
_COMMAND_HINT_RE = re.compile(r"rcpt|mail from|data|helo|ehlo|starttls|connect|recipient|sender|body|end of")
_REPLY_SUCCESS_RE = re.compile(r"\s{0,5}(2[0-5]\d)(?=[ \-]|$)")
_COMPLETE_REPLY_RE = re.compile(r"[245]\d\d ")
# searched in lower-cased text (cheaper than IGNORECASE), one pass over all lines
_DIAG_LINE_RE = re.compile(
    r"(?:^|[\s:(\[<#])[245]\d\d(?:[ -]|$)|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?!\d)|said:|error:|reason:|diagnostic|remote host said|smtp error",
    re.MULTILINE,
)
_DEFERRED_WORDS = ("warning", "try", "not yet", "retried", "delay", "defer")  # one is in every deferred hint
_DIAG_ANY_RE = re.compile(_DIAG_LINE_RE.pattern)  # ^ and $ at the text's ends only
_CODE_RE = re.compile(r"(?:^|[\s:(\[<#])[245]\d\d(?:[ -]|$)|(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?!\d)")
_DEFERRED_HINT_RE = re.compile(  # searched in lower-cased text
    r"\b(?:this is a warning message only|will (?:continue to )?(?:retry|try again|keep trying)|not yet been delivered"
    r"|still being retried|delivery (?:has been )?delayed|message delayed|delayed mail|will be retried"
    r"|has not yet been delivered|temporarily (?:deferred|delayed)|warning: could not send)"
)


@dataclass(slots=True)
class TextRecipient:
    address: str
    segment: str  # the text about this recipient


def cut_lines(text: str) -> str:
    """Bound every line's length (nothing real is that long; fuzzers are)."""
    if len(text) > MAX_REPORT:
        text = text[:MAX_REPORT]
    if len(text) > MAX_LINE and any(len(line) > MAX_LINE for line in text.split("\n")):
        text = "\n".join(line[:MAX_LINE] for line in text.split("\n"))
    return text


# every marker holds one of these
_MARKER_WORDS = ("message", "original", "copy", "header", "続き", "元の", "原始", "ursprüngliche", "oorspronkelijk", "opprinnelig",
                 "ursprungligt", "oryginalna", "исходное")


_HEADER_STARTS = tuple(
    "\n" + name + ":"
    for name in ("return-path", "received", "dkim-signature", "message-id", "x-original-to", "delivered-to", "mime-version",
                 "authentication-results")
)


def _header_start(text: str, low: str) -> int:
    """Where the first line that starts a header block is (``_HEADER_START_RE``), or -1; by ``str.find``."""
    if len(low) != len(text):
        h = _HEADER_START_RE.search(text)
        return h.start() if h else -1
    best = -1
    for marker in _HEADER_STARTS:
        pos = low.find(marker, 0, best if best >= 0 else len(low))
        while pos >= 0:
            after = pos + len(marker)
            if after < len(low) and low[after] in " \t":
                if best < 0 or pos + 1 < best:
                    best = pos + 1
                break
            pos = low.find(marker, after, best if best >= 0 else len(low))
    for marker in _HEADER_STARTS:  # a header block right at the start of the text
        if low.startswith(marker[1:]) and low[len(marker) - 1 : len(marker)] in (" ", "\t"):
            return 0
    return best


def _marker_start(text: str, low: str) -> int:
    """Start of the first original-message marker line, or -1.

    Equivalent to ``_ORIGINAL_MARKER_RE.search`` but much cheaper on long
    reports: only lines that hold one of the marker words (found with
    ``str.find`` on the lower-cased text) are tried with the anchored regex.
    """
    if len(low) != len(text):
        m = _ORIGINAL_MARKER_RE.search(text)
        return m.start() if m else -1
    best = -1
    for word in _MARKER_WORDS:
        pos = low.find(word)
        while pos >= 0 and (best < 0 or pos < best):
            line = low.rfind("\n", 0, pos) + 1
            if _ORIGINAL_MARKER_RE.match(text, line):
                best = line
                break
            eol = low.find("\n", pos)
            if eol < 0:
                break
            pos = low.find(word, eol + 1)
    return best


def split_original(text: str, low: str | None = None) -> tuple[str, str]:
    """(report text, returned original) of a plain-text bounce; ``low``: ``text.lower()`` if the caller has it."""
    if low is None:
        low = text.lower()
    h = _header_start(text, low)
    cut = _marker_start(text, low)
    if h > 0 and (cut < 0 or h < cut):
        cut = h
    if cut <= 0:
        return text, ""
    return text[:cut], text[cut:]


def find_addresses(text: str) -> list[tuple[int, str]]:
    """(position, address) of every address-like token, in order; lower-cased domain."""
    out: list[tuple[int, str]] = []
    pos = text.find("@")
    tries = 0
    while pos >= 0 and len(out) < MAX_ADDRESSES and tries < 4 * MAX_ADDRESSES:
        tries += 1
        lo = max(0, pos - 64)
        brk = _LAST_NON_LOCAL_RE.match(text, lo, pos)  # the local part starts after the last non-local character
        start = brk.end() if brk else lo
        right = _DOMAIN_RE.match(text, pos + 1) if start < pos else None
        if right:
            local = text[start:pos].lstrip(".'`")
            domain = right.group(0).rstrip(".-")
            tld = domain.rsplit(".", 1)[-1]
            if local and "." in domain and tld.isalpha():
                out.append((pos - len(local), f"{local}@{domain.lower()}"))
            pos = text.find("@", right.end())
        else:
            pos = text.find("@", pos + 1)
    return out


# an address right after one of these labels is the sender's or a message id, not a recipient
_NOT_RECIPIENT_LABEL_RE = re.compile(
    r"(?:^|[\s(\[])(?:from|sender|reply-to|return-path|mail from|envelope-from|errors-to|message-id|in-reply-to"
    r"|references|x-sender|smtp\.mailfrom|header\.from|sent by|von|de|da|fra|van|från|od|от|差出人|送信者|发件人|寄件者)\s*[:=：]\s*[\"']?[^\s@]{0,80}[\s<\"']*$",
    re.IGNORECASE,
)


def _after_sender_label(report: str, pos: int) -> bool:
    """True when the address at ``pos`` follows a sender/message-id label on its line."""
    start = max(report.rfind("\n", 0, pos) + 1, pos - 120)
    return _NOT_RECIPIENT_LABEL_RE.search(report, start, pos) is not None


def recipients_in_text(report: str, exclude: set[str], include: set[str] | None = None) -> list[TextRecipient]:
    """The failed recipients of a free-text report, each with its text.

    ``include``: addresses the report's headers name as failed (Exim's
    ``X-Failed-Recipients``); they count even where they would otherwise be
    excluded (a bounce to oneself) or follow a sender label.
    """
    found: list[tuple[int, str]] = []
    seen: set[str] = set()
    for pos, addr in find_addresses(report):
        key = addr.lower()
        if key in seen:
            continue
        if include and key in include:
            seen.add(key)
            found.append((pos, addr))
            continue
        if key in exclude or _is_role(key) or _after_sender_label(report, pos):
            continue
        seen.add(key)
        found.append((pos, addr))
    out: list[TextRecipient] = []
    for i, (pos, addr) in enumerate(found):
        start = report.rfind("\n", 0, pos) + 1
        if i + 1 < len(found):
            end = report.rfind("\n", 0, found[i + 1][0]) + 1
            if end <= start:
                end = found[i + 1][0]
        else:
            end = len(report)
        out.append(TextRecipient(addr, report[start : min(end, start + MAX_SEGMENT)]))
    return out


def _is_role(addr: str) -> bool:
    local = addr.split("@", 1)[0]
    return local in ("mailer-daemon", "mailer_daemon", "mail-daemon", "mailerdaemon") or local.startswith("mailer-daemon")


def reply_code(text: str) -> str:
    """The SMTP reply code the remote gave (first 4xx/5xx, else first 2xx).

    The regex starts at the digits (so the engine skips straight to
    candidates) and the character before is checked here: same result as
    ``_REPLY_SIMPLE_RE``, several times faster on long texts.
    """
    for m in _REPLY_CANDIDATE_RE.finditer(text):
        start = m.start()
        if start == 0 or text[start - 1].isspace() or text[start - 1] in _REPLY_BEFORE:
            return m.group(1)
    # a success answer only where the text starts with it ("250 2.0.0 OK"):
    # elsewhere a 2xx is as likely a greeting or a number in prose
    m = _REPLY_SUCCESS_RE.match(text)
    return m.group(1) if m else ""


def status_code(text: str) -> str:
    """The first RFC 3463 failure status (4.x.x / 5.x.x) in ``text``; same result as ``_STATUS_RE``."""
    for m in _STATUS_CANDIDATE_RE.finditer(text):
        start = m.start()
        if start and (text[start - 1].isdigit() or text[start - 1] == "."):
            continue
        cls, subj, det = m.groups()
        if int(subj) <= 7:
            return f"{cls}.{subj}.{det}"
    return ""


@lru_cache(maxsize=1024)
def smtp_command(text: str) -> str:
    """The SMTP command the remote answered, normalised (RCPT, MAIL, DATA, HELO...)."""
    last = ""
    text = text[:3000].lower()
    if not _COMMAND_HINT_RE.search(text):
        return ""
    for m in _COMMAND_RE.finditer(text):
        word = m.group(1).lower()
        if word.startswith(("end of", "final data", "data", "message body", "body")):
            last = "DATA"
        elif word in ("rcpt to", "recipient"):
            last = "RCPT"
        elif word in ("mail from", "sender"):
            last = "MAIL"
        elif word in ("helo", "ehlo", "connect", "initial connection"):
            last = "HELO"
        elif word == "starttls":
            last = "STARTTLS"
    return last


_DIAG_WORDS = ("said:", "error:", "reason:", "diagnostic", "remote host said", "smtp error")
_DIAG_CODE_RE = re.compile(r"[245]\d\d(?:[ -]|$)", re.MULTILINE)
_DIAG_STATUS_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?!\d)")


def _first_diag_at(low: str) -> int:
    """Position of the first thing ``_DIAG_LINE_RE`` would find in lower-cased ``low`` (-1: none).

    Literal words by ``str.find``, codes and statuses by regexes that start at
    the digits with the character before checked here: much cheaper than
    the one regex with its lookbehind tried at every position.
    """
    best = len(low)
    for word in _DIAG_WORDS:
        pos = low.find(word, 0, best)
        if pos >= 0:
            best = pos
    for m in _DIAG_CODE_RE.finditer(low, 0, best):
        start = m.start()
        if start == 0 or low[start - 1].isspace() or low[start - 1] in ":([<#":
            best = start
            break
    for m in _DIAG_STATUS_RE.finditer(low, 0, best):
        start = m.start()
        if start == 0 or not (low[start - 1].isdigit() or low[start - 1] == "."):
            best = start
            break
    return best if best < len(low) else -1


def _first_diag_line(seg: str) -> int:
    """Offset of the first line that reads like a server's answer, or -1.

    The answer nearly always stands in the first lines, so those are
    searched first; the search runs on lower-cased text (cheaper than
    IGNORECASE), line by line where lower-casing changes the length.
    """
    near = seg.rfind("\n", 0, 2000) if len(seg) > 2000 else len(seg)
    for begin, end in ((0, max(near, 0)), (max(near, 0), len(seg))):
        if begin >= end:
            continue
        chunk = seg[begin:end]
        low = chunk.lower()
        if len(low) == len(chunk):
            at = _first_diag_at(low)
            if at >= 0:
                return begin + chunk.rfind("\n", 0, at) + 1
            continue
        offset = begin
        for ln in chunk.split("\n"):
            if _DIAG_LINE_RE.search(ln.strip().lower()):
                return offset
            offset += len(ln) + 1
    return -1


def diagnostic_lines(segment: str, address: str) -> str:
    """The remote server's answer within a recipient's text, whitespace folded.

    The first line carrying a reply code, a status or a "said:"-style lead,
    with the lines that continue it; else the segment itself.
    """
    seg = segment[:MAX_SEGMENT]
    line_start = _first_diag_line(seg)
    if line_start < 0:
        text = " ".join(ln for ln in (x.strip() for x in seg.split("\n", 200)[:200]) if ln)
        return text[:1000]
    window = [ln.strip() for ln in seg[line_start:].split("\n", 8)[:8]]
    picked: list[str] = []
    coded = False
    for i, ln in enumerate(window):
        if not ln:
            if not picked:
                continue
            # a lead line without a code ("Error message below:") may be
            # followed, after a blank line, by the answer itself
            nxt = " ".join([x for x in window[i + 1 :] if x][:2])
            if coded or not _CODE_RE.search(nxt):
                break
            continue
        if picked and _COMPLETE_REPLY_RE.match(picked[0]) and _COMPLETE_REPLY_RE.match(ln):
            break  # after a finished "554 <a>... text" line, a "550 ..." line is another answer (Sendmail transcript)
        picked.append(ln)
        coded = coded or _CODE_RE.search(ln) is not None
    return " ".join(picked)[:1000]


def has_diagnostic(text: str) -> bool:
    """True when ``text`` holds a line that reads like a server's answer (a code, a status, "said:")."""
    return _DIAG_ANY_RE.search(text[:MAX_SEGMENT].lower()) is not None


def looks_deferred(text: str) -> bool:
    """True when a free-text report says the MTA is still retrying."""
    low = text.lower()
    if not any(word in low for word in _DEFERRED_WORDS):
        return False
    return _DEFERRED_HINT_RE.search(low) is not None
