"""Turn one returned message into a ``ParsedMessage`` and then into events.

The order of the checks is what keeps auto-replies and ordinary mail from
being counted as bounces: first a feedback report (or the non-standard
complaint forms), then a delivery-status report, then a free-text
non-delivery report from a mail system, and only then an auto-reply; a
message that is none of these is ``other`` and carries no recipients.

``parse_bytes`` never raises: a message that cannot be read comes back with
``error`` set, so one broken file never stops a mailbox import.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache

from ingest import arf, autoreply, dsn, ndr
from ingest.message import ParsedMessage, ParsedRecipient
from ingest.mime import Part, decode_header, normalize_newlines, parse_headers, parse_message, split_head_body, split_mbox
from ingest.reasons import find_reason
from ingest.rhosts import remote_host_in
from models.events import EventIn
from models.taxonomy import classify

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
_HEAD_TEXT = 20_000  # how much report text the message-level checks read

# the "From " line that starts the next message of an mbox: "From sender Day Mon dd ..."
_MBOX_NEXT_RE = re.compile(rb"\nFrom [^\s]{1,300}[ \t]+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[ \t,]")
_MSGID_RE = re.compile(r"<[^<>\s]{1,500}>")
_BOUNCE_FROM_RE = re.compile(
    r"mailer[-_ ]?daemon|post_?master|mail delivery|delivery (?:subsystem|system|notification|status)|mail administrator"
    r"|mail ?system|microsoftexchange|mailmaster|^(?:bounce|bounces|daemon|root|nobody|mdaemon)@|internet mail delivery"
    r"|mail (?:transport|router)|symantec|mailfilter|messagelabs|mimecast|returned mail",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|not (?:be )?delivered|delivery (?:status|failure|failed|has failed|problem|report|notification|error|incomplete|delayed)"
    r"|returned mail|return(?:ed)? to sender|failure notice|mail delivery fail|delivery fail|non[- ]?delivery|nondeliverable"
    r"|could not (?:send|deliver)|unable to deliver|warning: could not|delayed mail|mail system error|bounce|failed delivery"
    r"|error sending|message not delivered|mail failure|delivery notification|permanent error|\bdsn\b|unzustellbar|nicht zustellbar"
    r"|non remis|non distribuable|no entregado|non recapitato|onbestelbaar|kan ikke leveres|ej levererat|ошибка доставки|не доставлено"
    r"|配信(?:エラー|失敗|不能)|不達|未送達|エラー|退信|投递失败|系统退信|mail could not|rejected|failed",
    re.IGNORECASE,
)
_PERMANENT_HINT_RE = re.compile(  # searched in lower-cased text
    r"permanent(?:ly)? (?:error|fail)|fatal error|giving up|gave up|i've given up|could not be delivered|couldn't be delivered"
    r"|undeliverable|delivery (?:has )?failed|failed permanently|was not delivered|returned to sender"
)
_LIST_ADMIN_RE = re.compile(r"[\w.+-]-(?:admin|owner|request)@", re.IGNORECASE)
_RECEIVED_FOR_RE = re.compile(r"\bfor <?([^\s<>;@]{1,64}@[A-Za-z0-9.-]{1,253})>?")
_HTML_TAG_RE = re.compile(r"<[^<>]{0,2000}>")
_HTML_BREAK_RE = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|p|div|tr)\b[^<>]{0,500}>", re.IGNORECASE)
_ORIG_HEADER_LINE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,60}:[ \t]", re.MULTILINE)


def parse_bytes(
    data: bytes,
    *,
    source: str = "",
    mailing_header: str = "X-Bouncedesk-Mailing",
    verp_prefix: str = "bounces",
) -> ParsedMessage:
    """Parse one message; never raises (a message that cannot be read gets ``error``)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return ParsedMessage(
            source=source,
            kind="other",
            recipients=[],
            error=f"message is {len(data):,} bytes, over the {MAX_MESSAGE_BYTES // (1024 * 1024)} MB limit; not read",
        )
    if data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):  # no mail starts so; a provider's events do
        return ParsedMessage(source=source, kind="other", recipients=[],
                             error="not a mail message but JSON (a provider's events?): "
                                   "read it with 'bouncedesk events --provider NAME'")
    try:
        parts = [data]
        if data.startswith(b"From "):
            unix = normalize_newlines(data)
            if _MBOX_NEXT_RE.search(unix):
                parts = [part for part in split_mbox(unix) if part] or [b""]
        msg = parse_unchecked(parts[0], source=source, mailing_header=mailing_header, verp_prefix=verp_prefix)
        for more in parts[1:100]:
            # a file holding several mbox messages (a saved folder): one
            # result with every report's recipients, so none is lost
            nxt = parse_unchecked(more, source=source, mailing_header=mailing_header, verp_prefix=verp_prefix)
            msg = _merge(msg, nxt)
    except Exception as exc:  # a parser bug must not stop an import: report it on the message
        msg = ParsedMessage(source=source, kind="other", recipients=[], error=f"cannot parse: {type(exc).__name__}: {exc}")
    if not msg.message_id:
        msg.raw_sha256 = hashlib.sha256(data).hexdigest()
    return msg


_KIND_RANK = {"bounce": 0, "delay": 1, "complaint": 2, "delivered": 3, "autoreply": 4, "other": 5}


_REPORT_KINDS = frozenset({"bounce", "delay", "delivered"})  # each recipient keeps its own action


def _merge(first: ParsedMessage, other: ParsedMessage) -> ParsedMessage:
    """Two messages of one mbox file as one result.

    Delivery reports combine (each recipient keeps its action, so a delay
    stays a delay); otherwise the stronger kind wins with its recipients, so
    an auto-reply's sender never turns into a bounce.
    """
    better = _KIND_RANK.get(other.kind, 5) < _KIND_RANK.get(first.kind, 5)
    if first.kind in _REPORT_KINDS and other.kind in _REPORT_KINDS:
        first.recipients.extend(other.recipients)
        if better:
            first.kind = other.kind
    elif better:
        first.kind, first.recipients = other.kind, other.recipients
    return first


class _Collected:
    """What the walk over the MIME tree found."""

    __slots__ = ("texts", "htmls", "dsn_parts", "feedback_parts", "original", "original_part", "original_text")

    def __init__(self) -> None:
        self.texts: list[Part] = []
        self.htmls: list[Part] = []
        self.dsn_parts: list[Part] = []
        self.feedback_parts: list[Part] = []
        self.original: list[tuple[str, str]] = []  # headers of the returned original
        self.original_part: Part | None = None
        self.original_text = ""


def _collect(part: Part, found: _Collected) -> None:
    ct = part.ctype
    if ct in ("message/delivery-status", "message/global-delivery-status"):
        found.dsn_parts.append(part)
    elif ct == "message/feedback-report":
        found.feedback_parts.append(part)
    elif ct in ("message/rfc822", "message/global", "message/partial", "message/rfc822-headers"):
        if not found.original:
            if part.children:
                found.original_part = part.children[0]
                found.original = part.children[0].headers
            else:
                found.original = parse_headers(split_head_body(part.text().lstrip("\n"))[0])
    elif ct in ("text/rfc822-headers", "text/rfc822", "text/x-rfc822-headers"):
        if not found.original:
            found.original = parse_headers(part.text().lstrip("\n"))
    elif ct.startswith("multipart/"):
        for child in part.children:
            _collect(child, found)
    elif ct == "text/html":
        found.htmls.append(part)
    elif ct.startswith("text/") or (ct == "application/octet-stream" and part.depth == 0):
        if part.get("content-disposition").lower().startswith("attachment") and found.texts:
            if not found.original and _ORIG_HEADER_LINE_RE.match(part.body[:400].lstrip("\n")[:200]):
                found.original = parse_headers(split_head_body(part.text().lstrip("\n"))[0])
            return
        found.texts.append(part)


def _html_text(html: str) -> str:
    html = _HTML_BREAK_RE.sub("\n", html)
    text = _HTML_TAG_RE.sub(" ", html)
    return text.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')


def _header_get(headers: list[tuple[str, str]], name: str) -> str:
    for n, v in headers:
        if n == name:
            return v
    return ""


def _addresses_of(value: str) -> list[str]:
    return [a.lower() for _, a in ndr.find_addresses(value)]


def _msgid(value: str) -> str:
    m = _MSGID_RE.search(value)
    return m.group(0) if m else value.strip()[:500]


@lru_cache(maxsize=16)
def _verp_re(prefix: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.+-])" + re.escape(prefix) + r"[+=]([^@\s<>\"]{1,200})@", re.IGNORECASE)


def _verp_token(values: list[str], prefix: str) -> str | None:
    if not prefix:
        return None
    rx = _verp_re(prefix)
    for value in values:
        m = rx.search(value)
        if m:
            return m.group(1)
    return None


def _finish(rec: ParsedRecipient, kind: str) -> ParsedRecipient:
    c = classify(kind, rec.reason, rec.status, rec.reply, gave_up=rec.gave_up)
    rec.category, rec.severity, rec.blame = c.category, c.severity, c.blame
    return rec


def _recipient_kind(msg_kind: str, rec: ParsedRecipient) -> str:
    if msg_kind in ("complaint", "autoreply", "other"):
        return msg_kind
    if rec.action == "delayed":
        return "delay"
    if rec.action in ("delivered", "relayed", "expanded") or rec.reason == "delivered":
        return "delivered"
    return "bounce" if msg_kind in ("bounce", "delay") else msg_kind


def parse_unchecked(
    data: bytes,
    *,
    source: str = "",
    mailing_header: str = "X-Bouncedesk-Mailing",
    verp_prefix: str = "bounces",
) -> ParsedMessage:
    """The parser itself; may raise on a bug (tests call it to prove it does not)."""
    root = parse_message(data)
    subject = decode_header(root.get("subject")[:2000])
    msg = ParsedMessage(
        source=source,
        kind="other",
        recipients=[],
        subject=subject,
        from_=decode_header(root.get("from")),
        message_id=_msgid(root.get("message-id")),
        date_header=root.get("date"),
    )
    found = _Collected()
    _collect(root, found)
    if found.texts:
        report_full = "\n".join(p.text() for p in found.texts[:20])
    elif found.htmls:
        report_full = "\n".join(_html_text(p.text()) for p in found.htmls[:20])
    else:
        report_full = ""
    report_full = ndr.cut_lines(report_full)
    report_low = report_full.lower()  # searched by several checks below: lower-cased once
    report, inline_original = ndr.split_original(report_full, report_low)
    if not found.original and inline_original:
        block = inline_original
        m = _ORIG_HEADER_LINE_RE.search(block)
        if m:
            found.original_text = block[m.start():]
            found.original = parse_headers(split_head_body(found.original_text)[0])
    original = found.original

    # linking hints
    msg.original_message_id = _msgid(_header_get(original, "message-id")) if original else ""
    mailing = _header_get(original, mailing_header.lower()) if original and mailing_header else ""
    if not mailing and mailing_header and inline_original:
        m = re.search(r"^[ \t>]*" + re.escape(mailing_header) + r":[ \t]*(\S{1,200})", inline_original[:_HEAD_TEXT * 4],
                      re.IGNORECASE | re.MULTILINE)
        mailing = m.group(1) if m else ""
    msg.mailing_code = mailing.strip() or None
    verp_values = [root.get(n) for n in ("to", "delivered-to", "x-original-to", "envelope-to", "return-path")]
    verp_values += [_header_get(original, n) for n in ("return-path", "sender")]
    msg.verp_token = _verp_token(verp_values, verp_prefix)

    # 1. complaints
    complaint = _complaint(root, found, report_full)
    if complaint is not None:
        msg.kind = "complaint"
        msg.recipients = [_finish(complaint, "complaint")]
        return msg
    ses = _ses_notification(report_full)
    if ses is not None:
        msg.kind, msg.recipients = ses
        return msg

    # 2. delivery status reports
    dsn_text = "\n".join(p.text() for p in found.dsn_parts)
    human = report
    if not dsn_text:
        fields_at = dsn.dsn_fields_start(report_full, report_low)
        if fields_at >= 0:
            # the fields written into the text itself: the prose before them is the human-readable part
            dsn_text = report_full[fields_at:]
            human = report_full[:fields_at] if fields_at > 0 else report
    if dsn_text:
        recs = _from_dsn(dsn.parse_delivery_status(ndr.cut_lines(dsn_text)), human, root, original)
        if recs:
            msg.recipients = recs
            kinds = {_recipient_kind("bounce", r) for r in recs}
            msg.kind = "bounce" if "bounce" in kinds else "delay" if "delay" in kinds else "delivered"
            msg.recipients = [_finish(r, _recipient_kind(msg.kind, r)) for r in recs]
            return msg

    # 3. free-text non-delivery reports
    if _is_bounce(root, subject, found, report):
        whole = (subject[:500] + "\n" + report[:_HEAD_TEXT]).lower()
        deferred = ndr.looks_deferred(whole) and not _PERMANENT_HINT_RE.search(whole)
        failed = set(_addresses_of(" ".join(root.get_all("x-failed-recipients"))[:5000]))
        recs = _from_text(report, _excluded(root, original, msg), original, deferred, failed)
        if recs:
            msg.kind = "delay" if deferred else "bounce"
            msg.recipients = [_finish(r, _recipient_kind(msg.kind, r)) for r in recs]
            return msg

    # 4. automatic replies
    if autoreply.is_autoreply(root, subject):
        msg.kind = "autoreply"
        sender = arf.first_address(root.get("from"))
        if sender:
            msg.recipients = [ParsedRecipient(address=sender, reason="vacation")]
        return msg
    return msg


def _complaint(root: Part, found: _Collected, report: str) -> ParsedRecipient | None:
    if found.feedback_parts:
        fields = arf.feedback_fields("\n".join(p.text() for p in found.feedback_parts))
        addr, _redacted = arf.complainant(fields, found.original)
        return ParsedRecipient(
            address=addr,
            reason="feedback",
            feedback_type=arf.feedback_type(fields),
            diagnostic=" ".join((fields.get("user-agent") or [""])[:1]),
        )
    if arf.is_jmrp(found.original_part):
        addr, _redacted = arf.complainant({}, found.original)
        return ParsedRecipient(address=addr, reason="feedback", feedback_type="abuse")
    if root.get("content-type").lower().startswith("multipart/report") and "feedback-report" in root.get("content-type").lower():
        fields = arf.feedback_fields(report)
        addr, _redacted = arf.complainant(fields, found.original)
        return ParsedRecipient(address=addr, reason="feedback", feedback_type=arf.feedback_type(fields))
    unsub = arf.unsubscribe_request(root)
    if unsub:
        return ParsedRecipient(address=unsub, reason="feedback", feedback_type="opt-out", diagnostic=decode_header(root.get("subject")))
    return None


def _ses_notification(text: str) -> tuple[str, list[ParsedRecipient]] | None:
    """An Amazon SES notification delivered by mail (SNS e-mail subscription)."""
    start = text.find("{")
    if start < 0 or ("notificationType" not in text and "eventType" not in text):
        return None
    end = text.rfind("}")
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        try:
            obj = json.loads(re.sub(r"\n ?", "", text[start : end + 1]))
        except ValueError:
            return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("Message"), str):
        try:
            obj = json.loads(obj["Message"])
        except ValueError:
            return None
    kind = str(obj.get("notificationType") or obj.get("eventType") or "")
    recs: list[ParsedRecipient] = []
    if kind == "Complaint":
        c = obj.get("complaint") or {}
        ftype = str(c.get("complaintFeedbackType") or "abuse")
        for r in c.get("complainedRecipients") or []:
            if isinstance(r, dict) and r.get("emailAddress"):
                recs.append(_finish(ParsedRecipient(str(r["emailAddress"]), reason="feedback", feedback_type=ftype), "complaint"))
        return ("complaint", recs) if recs else None
    if kind == "Bounce":
        b = obj.get("bounce") or {}
        permanent = b.get("bounceType") == "Permanent"
        for r in b.get("bouncedRecipients") or []:
            if not isinstance(r, dict) or not r.get("emailAddress"):
                continue
            diag = str(r.get("diagnosticCode") or "")
            status = str(r.get("status") or "")
            reply = ndr.reply_code(diag)
            if not status:
                status = ndr.status_code(diag) or ("5.0.0" if permanent else "4.0.0")
            reason = "suppressed" if b.get("bounceSubType") in ("Suppressed", "OnAccountSuppressionList") else find_reason(
                status, reply, diag, command=ndr.smtp_command(diag))
            rec = ParsedRecipient(str(r["emailAddress"]), status=status, reply=reply, reason=reason, diagnostic=fold_ws(diag),
                                  action="failed", gave_up=status.startswith("4"))
            recs.append(_finish(rec, "bounce"))
        return ("bounce", recs) if recs else None
    if kind == "Delivery":
        d = obj.get("delivery") or {}
        resp = str(d.get("smtpResponse") or "")
        for a in d.get("recipients") or []:
            status = ndr.status_code(resp) or "2.0.0"
            rec = ParsedRecipient(str(a), status=status if status.startswith("2") else "2.0.0", reply=ndr.reply_code(resp) or "250",
                                  reason="delivered", diagnostic=fold_ws(resp), action="delivered")
            recs.append(_finish(rec, "delivered"))
        return ("delivered", recs) if recs else None
    return None


def fold_ws(text: str) -> str:
    return " ".join(text.split())


def _from_dsn(report: dsn.DsnReport, text: str, root: Part, original: list[tuple[str, str]]) -> list[ParsedRecipient]:
    """One recipient per DSN block; a report whose only recipient field names a local user without a
    domain takes the X-Failed-Recipients header or the original's To, when that names one address."""
    cache: dict[str, str] | None = None

    def segment_of(address: str) -> str:
        # the human-readable part about this recipient, read only when the fields say too little
        nonlocal cache
        if cache is None:
            cache = {t.address.lower(): t.segment for t in ndr.recipients_in_text(text, set())}
        seg = cache.get(address.lower(), "")
        if not seg and len(report.recipients) == 1:
            # the text names the recipient differently (an alias, a pipe, a
            # local part): with one recipient, all of the text is about it
            seg = text[: ndr.MAX_SEGMENT]
        return seg

    out: list[ParsedRecipient] = []
    for r in report.recipients:
        addr = (r.final or r.original).strip()
        if not _plain_address(addr) and _plain_address(r.original.strip()):
            # a source route ("@relay:user@host"), an internal host name or a
            # pipe in Final-Recipient: the original address is the one we sent to
            addr = r.original.strip()
        elif "@" not in addr:
            addr = r.original if "@" in r.original else addr
            if "@" not in addr and len(report.recipients) == 1:
                fallback = _addresses_of(" ".join(root.get_all("x-failed-recipients"))[:5000]) or _addresses_of(
                    _header_get(original, "to"))
                if len(fallback) == 1:
                    addr = fallback[0]
        if not addr:
            continue
        local, _, domain = addr.rpartition("@")
        addr = f"{local}@{domain.lower()}" if local else addr
        diag = fold_ws(r.diagnostic)
        diag_command = ndr.smtp_command(diag)
        segment = "" if diag_command and ndr.reply_code(diag) else segment_of(addr)
        status = r.status if dsn_status_ok(r.status) else ""
        reply = ndr.reply_code(diag) or ndr.reply_code(segment)
        if not diag and segment:
            diag = ndr.diagnostic_lines(segment, addr)
        inner = ndr.status_code(diag)
        if inner and (not status or not inner.endswith(".0.0")):
            if inner[0] == (status or inner)[0] or (reply[:1] == inner[0] and r.action != "delayed"):
                # the remote server's own status beats the reporting MTA's
                # translation of it (Status: 5.1.1 over "550 5.7.1 IP
                # blacklisted", 4.5.0 over "550 5.5.0 service refused")
                status = inner
        action = r.action
        if not action:
            action = "delivered" if status.startswith("2") else "failed"
        command = diag_command or ndr.smtp_command(segment)
        gave_up = action == "failed" and status.startswith("4")
        rhost = r.remote_mta or remote_host_in(segment)
        reason = find_reason(status, reply, diag, command=command, action=action,
                             diagnostic_type=r.diagnostic_type, gave_up=gave_up, remote_host=rhost, domain=domain,
                             local_host=report.reporting_mta, context=text)
        if reason in ("onhold", "undefined", "securityerror", "systemerror", "networkerror") and segment:
            better = find_reason(status, reply, diag + "\n" + ndr.diagnostic_lines(segment, addr), command=command,
                                 action=action, gave_up=gave_up, remote_host=rhost, domain=domain)
            if better not in ("onhold", "undefined"):
                reason = better
        if action == "delivered" or status.startswith("2"):
            reason = "delivered"
        rec = ParsedRecipient(
            address=addr,
            status=status,
            reply=reply,
            reason=reason,
            diagnostic=diag,
            remote_mta=r.remote_mta,
            action=action,
            gave_up=gave_up,
        )
        out.append(rec)
    return out


_PLAIN_ADDRESS_RE = re.compile(r"[^\s@:<>|\"]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")


def _plain_address(addr: str) -> bool:
    """``user@host.domain``: no route, no pipe, a dotted domain."""
    return _PLAIN_ADDRESS_RE.fullmatch(addr) is not None


def dsn_status_ok(status: str) -> bool:
    return bool(re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status))


def _is_bounce(root: Part, subject: str, found: _Collected, report: str) -> bool:
    ctype = root.get("content-type").lower()
    if ctype.startswith("multipart/report"):
        return True
    sender = root.get("from")[:500]
    if _BOUNCE_FROM_RE.search(sender) or _BOUNCE_FROM_RE.search(root.get("return-path")[:500]):
        return True
    if root.get("x-failed-recipients"):
        return True
    if (
        root.get("return-path").strip() == "<>"
        and _PERMANENT_HINT_RE.search(report[:_HEAD_TEXT].lower())
        and not autoreply.is_autoreply(root, subject)
    ):
        # a null-sender message saying the mail could not be delivered (an
        # auto-reply is null-sender too, and may say anything)
        return True
    if root.get("x-mlserver") and _LIST_ADMIN_RE.search(sender):
        # a mailing-list manager (fml) returning a post it refused
        return True
    if _BOUNCE_SUBJECT_RE.search(subject[:500]) and (
        root.get("return-path").strip() in ("<>", "") or found.original or _PERMANENT_HINT_RE.search(report[:_HEAD_TEXT].lower())
    ):
        return True
    return False


def _excluded(root: Part, original: list[tuple[str, str]], msg: ParsedMessage) -> set[str]:
    """Addresses in a report that are not failed recipients: ours, the reporter's, message ids."""
    values = [root.get(name) for name in ("from", "to", "return-path", "delivered-to", "reply-to", "sender", "envelope-to", "cc")]
    values += [_header_get(original, name) for name in ("from", "return-path", "sender", "reply-to")]
    values += [msg.original_message_id, msg.message_id]
    # one scan over all of them (one line each: no address spans two)
    return set(_addresses_of("\n".join(v for v in values if "@" in v)))


def _from_text(
    report: str, exclude: set[str], original: list[tuple[str, str]], deferred: bool, failed: set[str]
) -> list[ParsedRecipient]:
    found = ndr.recipients_in_text(report, exclude - failed, failed)
    if failed and not any(t.address.lower() in failed for t in found):
        # the header names the failed recipients, the text does not (only a
        # local part, a pipe, an alias): the header is the authority
        found = [ndr.TextRecipient(a, report) for a in sorted(failed)][:ndr.MAX_ADDRESSES]
    if not found:
        # the report names the recipient without a domain, or not at all: the
        # returned original says whom it was for
        candidates = [a for a in _addresses_of(_header_get(original, "to")) if a not in exclude]
        if not candidates:
            for value in (v for n, v in original if n == "received"):
                m = _RECEIVED_FOR_RE.search(value)
                if m and m.group(1).lower() not in exclude:
                    candidates = [m.group(1)]
                    break
        if len(candidates) == 1:
            found = [ndr.TextRecipient(candidates[0], report)]
    preamble = ""
    if found:
        first = report.find(found[0].segment[:200]) if found[0].segment else -1
        preamble = report[: first if first > 0 else 0]
    preamble_answers = bool(preamble) and ndr.has_diagnostic(preamble)
    out: list[ParsedRecipient] = []
    for t in found:
        segment = t.segment
        if preamble_answers and not ndr.has_diagnostic(segment):
            # the server's answer stands before the list of addresses
            # ("Error message below: 550 ...", then "RCPT TO: a@b")
            segment = preamble[-ndr.MAX_SEGMENT:] + "\n" + segment
        diag = ndr.diagnostic_lines(segment, t.address)
        status = ndr.status_code(segment) or ndr.status_code(diag)
        reply = ndr.reply_code(diag) or ndr.reply_code(segment)
        command = ndr.smtp_command(segment)
        action = "delayed" if deferred else "failed"
        # a final report without a status: the MTA gave up (4.x answers) or was refused (5.x)
        gave_up = not deferred and (status.startswith("4") or (not status and not reply.startswith("5")))
        reason = ""
        rhost, domain = remote_host_in(segment), t.address.rpartition("@")[2]
        for text in (diag, segment, report[: ndr.MAX_SEGMENT]):
            reason = find_reason(status, reply, text, command=command, action=action, gave_up=gave_up,
                                 remote_host=rhost, domain=domain, context=segment)
            if reason not in ("onhold", "undefined", "expired"):
                break
        if not status and not deferred:
            status = "4.0.0" if reply.startswith("4") else "5.0.0"
        out.append(ParsedRecipient(address=t.address, status=status, reply=reply, reason=reason, diagnostic=diag,
                                   action=action, gave_up=not deferred and status.startswith("4")))
    return out


def to_events(msg: ParsedMessage, *, account_id: int | None = None) -> list[EventIn]:
    """One ``EventIn`` per recipient, with a dedupe key stable across re-imports.

    The key is the report's Message-ID (or, lacking one, a hash of what we
    know of the message) plus recipient and status, so reading the same
    mailbox twice records nothing new.
    """
    if msg.error:
        return []
    base = msg.message_id or msg.raw_sha256 or hashlib.sha256(
        json.dumps(msg.to_json(), sort_keys=True).encode() + (msg.subject + msg.from_).encode()
    ).hexdigest()
    events: list[EventIn] = []
    for rec in msg.recipients:
        kind = _recipient_kind(msg.kind, rec)
        key = hashlib.sha256(f"{base}\x00{rec.address.lower()}\x00{rec.status}\x00{kind}".encode()).hexdigest()
        events.append(
            EventIn(
                email=rec.address,
                kind=kind,
                dedupe_key=key,
                reason=rec.reason,
                smtp_status=rec.status,
                reply=rec.reply,
                diagnostic=rec.diagnostic,
                remote_mta=rec.remote_mta,
                feedback_type=rec.feedback_type,
                gave_up=rec.gave_up,
                occurred_at=msg.occurred_at,
                provider="mail",
                source=msg.source,
                account_id=account_id,
                verp_token=msg.verp_token,
                mailing_code=msg.mailing_code,
                original_message_id=msg.original_message_id or None,
            )
        )
    return events
