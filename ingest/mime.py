"""A small, forgiving MIME reader for returned mail.

Why not ``email.message_from_bytes``?  Bounces are read in bulk (a mailbox of
tens of thousands of them), the standard parser builds far more than we need
and alone costs more time than our whole analysis, and it is strict in places
where real bounces are broken (truncated multiparts, bare CR line ends, 8-bit
headers).  This reader only splits headers from bodies, unfolds headers,
walks multiparts and decodes the transfer encoding and charset of the parts
that are read as text.  Every loop is bounded (parts, depth, header lines) so
a hostile message cannot make it slow.

Text is handled as ``str`` decoded from latin-1 (a lossless 1:1 map of the
bytes); a part's real charset is applied only when its text is asked for.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from dataclasses import dataclass, field

MAX_PARTS = 200
MAX_DEPTH = 12
MAX_HEADER_LINES = 2000

_PARAM_RE = re.compile(r';\s*([A-Za-z0-9_.*-]{1,80})\s*=\s*("[^"]{0,2000}"|[^;\s]{0,2000})')
_ENCODED_WORD_RE = re.compile(r"=\?([A-Za-z0-9_.:-]{1,40})(?:\*[A-Za-z-]{1,20})?\?([bBqQ])\?([^?\s]{0,4000})\?=")
_EW_GAP_RE = re.compile(r"(\?=)[ \t\n]+(=\?)")
_CHARSET_NAME_RE = re.compile(r"[a-z0-9_.:-]{1,40}")
#: Python codecs that are no MIME charset: they interpret backslash escapes or are not for text,
#: and can yield lone surrogates (which no database or terminal accepts).
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "unicode-internal", "punycode", "idna"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_CHARSET_ALIASES = {
    "unknown-8bit": "latin-1",
    "x-unknown": "latin-1",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "us-ascii": "utf-8",  # 8-bit bytes under a us-ascii label are usually UTF-8
    "ascii": "utf-8",
    "iso-2022-jp-ms": "iso2022_jp_ext",
}


def normalize_newlines(data: bytes) -> bytes:
    """CRLF and lone CR become LF, so that every rule below sees one line end."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data


def decode_bytes(raw: bytes, charset: str | None) -> str:
    """Bytes to text with the declared charset, falling back without ever failing.

    A wrong or unknown label is common in bounces (a us-ascii part full of
    UTF-8, an ISO-2022-JP text labelled as nothing): try the label, then UTF-8,
    then cp1252/latin-1, which cannot fail.
    """
    cs = (charset or "").strip().strip('"').lower()
    cs = _CHARSET_ALIASES.get(cs, cs)
    if not _CHARSET_NAME_RE.fullmatch(cs):
        cs = ""
    elif cs:
        try:
            if codecs.lookup(cs).name in _NOT_CHARSETS:
                cs = ""
        except LookupError:
            pass
    if not cs:
        if b"\x1b$" in raw:  # ISO-2022-JP escape sequences without a label
            cs = "iso2022_jp"
        else:
            cs = "utf-8"
    try:
        text = raw.decode(cs)
        # utf-7 and friends can decode to half characters: shown and stored as U+FFFD
        return text if text.isascii() else _SURROGATE.sub("\ufffd", text)
    except (LookupError, UnicodeDecodeError, ValueError):
        pass
    if cs != "utf-8":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return raw.decode("cp1252", errors="replace") if len(raw) < 1_000_000 else raw.decode("latin-1")


def _decode_word(m: re.Match[str]) -> str:
    charset, enc, text = m.group(1), m.group(2).lower(), m.group(3)
    raw_text = text.encode("latin-1", errors="replace")
    try:
        if enc == "b":
            raw = base64.b64decode(raw_text + b"=" * (-len(raw_text) % 4))
        else:
            raw = quopri.decodestring(raw_text.replace(b"_", b" "), header=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    return decode_bytes(raw, charset)


def decode_header(value: str) -> str:
    """Decode RFC 2047 encoded words and 8-bit header text; never fails."""
    if "=?" in value:
        value = _EW_GAP_RE.sub(r"\1\2", value)
        value = _ENCODED_WORD_RE.sub(_decode_word, value)
    if not value.isascii():
        # 8-bit header bytes (held as latin-1 code points): most often UTF-8
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return value


_FOLD_RE = re.compile(r"\n[ \t]+")
# a colon-less "x=y" line: the continuation of the header above (see parse_headers' ``loose``)
_LOOSE_FOLD_RE = re.compile(r"\n(?=[^:\n=]*=[^:\n]*(?:\n|$))")
# matched from the newline before the line: a literal first character lets the regex engine
# jump from line to line instead of trying every position
_HEADER_LINE_RE = re.compile(r"\n([^\s:]{1,76})[ \t]*:[ \t]*([^\n]*)")
MAX_HEADER_CHARS = 256_000


def parse_headers(block: str, *, loose: bool = False) -> list[tuple[str, str]]:
    """Unfold and split a header block into (lower-case name, raw value) pairs.

    Unfolding and splitting are whole-block regex passes and the pairs are
    built without a Python-level loop: this runs for every part and every
    returned original, so it is the reader's hottest code.  ``loose``: a
    line without a colon but with ``=`` continues the previous header.  Some
    MTAs fold ``Content-Type: multipart/...;`` onto a ``boundary=`` line
    without the leading white space; reading that line as a continuation is
    what keeps the whole multipart readable.  Only for real header blocks:
    report fields mixed with prose must not swallow the prose.
    """
    if len(block) > MAX_HEADER_CHARS:
        block = block[:MAX_HEADER_CHARS]
    if "\n " in block or "\n\t" in block:
        block = _FOLD_RE.sub(" ", block)
    if loose and "=" in block:
        block = _LOOSE_FOLD_RE.sub(" ", block)
    found = _HEADER_LINE_RE.findall("\n" + block)
    if not found:
        return []
    if len(found) > MAX_HEADER_LINES:
        found = found[:MAX_HEADER_LINES]
    names, values = zip(*found)
    return list(zip(map(str.lower, names), map(str.strip, values)))


def split_head_body(text: str) -> tuple[str, str]:
    """Split at the first empty line; a message without one is all header."""
    if text.startswith("\n"):
        return "", text[1:]
    pos = text.find("\n\n")
    if pos < 0:
        return text, ""
    return text[:pos], text[pos + 2 :]


def content_type(value: str) -> tuple[str, dict[str, str]]:
    """``text/plain; charset=x`` -> ("text/plain", {"charset": "x"})."""
    semi = value.find(";")
    main = (value if semi < 0 else value[:semi]).strip().lower()
    params: dict[str, str] = {}
    if semi >= 0:
        for k, v in _PARAM_RE.findall(value, semi):
            if v[:1] == '"' and v[-1:] == '"' and len(v) >= 2:
                v = v[1:-1]
            params.setdefault(k.lower(), v)
    return main, params


@dataclass(slots=True)
class Part:
    """One MIME entity: its headers, its raw body and, for containers, children."""

    headers: list[tuple[str, str]]
    body: str  # raw (transfer-encoded) body as latin-1 text
    ctype: str = "text/plain"
    params: dict[str, str] = field(default_factory=dict)
    children: list["Part"] = field(default_factory=list)
    depth: int = 0
    _index: dict[str, str] | None = None

    def get(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (lower case), undecoded."""
        index = self._index
        if index is None:
            # reversed: the first occurrence of a repeated header wins
            index = self._index = dict(reversed(self.headers))
        return index.get(name, default)

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]

    def payload(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone (tolerating damage)."""
        raw = self.body.encode("latin-1", errors="replace")
        cte = self.get("content-transfer-encoding").lower().strip()
        if cte == "base64":
            cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
            cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
            try:
                return base64.b64decode(cleaned)
            except (binascii.Error, ValueError):
                return raw
        if cte == "quoted-printable":
            return quopri.decodestring(raw)
        return raw

    def text(self) -> str:
        """The body as text in its declared charset (LF line ends)."""
        if self.ctype.startswith("multipart/"):
            return ""
        data = self.payload()
        cte = self.get("content-transfer-encoding").lower().strip()
        if cte in ("base64", "quoted-printable"):
            data = normalize_newlines(data)
        return decode_bytes(data, self.params.get("charset"))

    def walk(self) -> list["Part"]:
        """This part and all below it, depth first, in order."""
        out: list[Part] = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def parse_part(text: str, depth: int = 0, budget: _Budget | None = None, default_type: str = "text/plain") -> Part:
    """Parse one entity (headers + body) of normalised (LF) latin-1 text."""
    budget = budget or _Budget()
    budget.parts += 1
    head, body = split_head_body(text)
    headers = parse_headers(head)
    part = Part(headers=headers, body=body, depth=depth)
    ct_value = part.get("content-type")
    if ct_value.endswith(";"):
        # parameters cut off: read again with colon-less "x=y" lines as continuations
        part = Part(headers=parse_headers(head, loose=True), body=body, depth=depth)
        ct_value = part.get("content-type")
    if ct_value:
        part.ctype, part.params = content_type(ct_value)
        if "/" not in part.ctype:
            part.ctype = default_type
    else:
        part.ctype = default_type
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        return part
    if part.ctype.startswith("multipart/"):
        boundary = part.params.get("boundary", "") or _guess_boundary(body)
        if boundary:
            child_type = "message/rfc822" if part.ctype == "multipart/digest" else "text/plain"
            for chunk in _split_multipart(body, boundary):
                if budget.parts >= MAX_PARTS:
                    break
                part.children.append(parse_part(chunk, depth + 1, budget, child_type))
        if not part.children and body.strip():
            # a "multipart" whose boundary never occurs (some MTAs write the
            # report as one plain body under a multipart/report header): read
            # it as the text it is rather than as nothing
            part.ctype = "text/plain"
    elif part.ctype in ("message/rfc822", "message/global") and part.get("content-transfer-encoding").lower() not in (
        "base64",
        "quoted-printable",
    ):
        if body and not body.isspace():
            # the returned original: its headers matter, its own MIME structure
            # and body do not (and may be megabytes: they are not copied)
            part.children.append(_headers_only_part(body, budget))
    return part


def _headers_only_part(text: str, budget: _Budget) -> Part:
    """A part with only the header block of ``text`` read; its body is left empty."""
    budget.parts += 1
    start = 0
    while start < len(text) and start < 1000 and text[start] == "\n":
        start += 1
    end = text.find("\n\n", start)
    part = Part(headers=parse_headers(text[start : end if end >= 0 else len(text)]), body="", depth=MAX_DEPTH)
    ct_value = part.get("content-type")
    part.ctype, part.params = content_type(ct_value) if ct_value else ("text/plain", {})
    if "/" not in part.ctype:
        part.ctype = "text/plain"
    return part


_BOUNDARY_LINE_RE = re.compile(r"^--([^\s-][^\s]{0,69})[ \t]*$", re.MULTILINE)


def _guess_boundary(body: str) -> str:
    """The boundary of a multipart whose header lost its ``boundary`` parameter."""
    m = _BOUNDARY_LINE_RE.search(body, 0, 20_000)
    return m.group(1) if m else ""


def _split_multipart(body: str, boundary: str) -> list[str]:
    """The chunks between ``--boundary`` lines; a missing end boundary is fine."""
    delim = "--" + boundary
    chunks: list[str] = []
    marker = "\n" + delim
    # positions are of the "\n" before each delimiter line; a body that starts
    # with the delimiter has a virtual one at -1 (no copy of the body is made)
    if body.startswith(delim):
        pos = -1
    else:
        pos = body.find(marker)
        if pos < 0:
            return chunks
    while len(chunks) < MAX_PARTS:
        start = pos + len(marker)
        if body.startswith("--", start):
            break
        eol = body.find("\n", start)
        if eol < 0:
            break
        nxt = body.find(marker, eol)
        chunks.append(body[eol + 1 : nxt if nxt >= 0 else len(body)])
        if nxt < 0:
            break
        pos = nxt
    return chunks


# an mbox separator: "From sender Day Mon dd hh:mm:ss yyyy" (a blank line before it is usual, not required)
MBOX_FROM_LINE_RE = re.compile(
    rb"^From [^\s]{1,300}[ \t]+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[ \t,]+(?:[A-Z][a-z]{2}[ \t]+\d{1,2}|\d{1,2}[ \t]+[A-Z][a-z]{2})[ \t]",
    re.MULTILINE,
)


# a separator of another shape ("From x 2024-01-01 ..."): after a blank line, with a year, before a header line
MBOX_LOOSE_FROM_RE = re.compile(rb"(?:\A|(?<=\n\n))From \S+ [^\n]*\d{4}[^\n]*\n(?=[A-Za-z0-9-]{1,76}:[ \t])")


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox (mboxrd/mboxo).

    A new message starts at a ``From `` line that has the separator's shape
    (sender, weekday, date); a body line that merely begins with "From " does
    not split, and a writer that left out the blank line before the
    separator still splits.  A ``From `` line with a date of another shape
    splits too when a blank line precedes it and a header line follows, as
    mboxo writes it (else two reports would be read as one).

    Every separator gives one entry, an empty one too (``b""``): the n-th
    entry is the n-th message of the file, so a source label ``box:n``
    points at the right one (callers say which entries were empty).
    """
    data = data.replace(b"\r\n", b"\n")
    starts = sorted({m.start() for m in MBOX_FROM_LINE_RE.finditer(data)}
                    | {m.start() for m in MBOX_LOOSE_FROM_RE.finditer(data)})
    messages: list[bytes] = []
    start = 0
    for pos in starts:
        if pos > start:
            messages.append(data[start:pos])
            start = pos
    messages.append(data[start:])
    out = []
    for m in messages:
        if m.startswith(b"From "):
            eol = m.find(b"\n")
            m = m[eol + 1 :] if eol >= 0 else b""
        # undo mboxrd quoting of body lines that began with "From "
        if b"\n>From " in m:
            m = m.replace(b"\n>From ", b"\nFrom ")
        out.append(m if m.strip() else b"")
    return out


def parse_message(data: bytes) -> Part:
    """Parse raw message bytes (any line ends) into a tree of parts."""
    text = normalize_newlines(data).decode("latin-1")
    # tolerate mbox "From " lines and leading blank lines
    if text.startswith("From "):
        eol = text.find("\n")
        text = text[eol + 1 :] if eol >= 0 else ""
    return parse_part(text.lstrip("\n"))
