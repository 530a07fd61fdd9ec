"""Reading provider event files: JSON lines, JSON arrays, pretty-printed objects, SNS envelopes.

Providers deliver events in different shapes: SendGrid POSTs a JSON array,
Mailgun and Postmark one object per webhook (saved as JSON lines), SES
notifications arrive wrapped in an SNS envelope whose ``Message`` is a JSON
*string*.  The reader streams a file line by line (a million events never
sit in memory at once), yields every event with its position, and turns a
broken line into an error item naming the line, so one bad line never stops
the rest.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: A multi-line JSON document that grows beyond this many bytes without
#: closing is given up on (reported as one error) instead of eating the file.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

#: A one-line JSON array longer than this is decoded element by element (``_stream_array``).
STREAM_ARRAY_CHARS = 8 * 1024 * 1024
_SPACE = re.compile(r"[ \t\r\n]*")


class _Unusable(Exception):
    """JSON the decoder refuses for its size rather than its syntax (too many digits, nested too deep)."""


def _loads(text: str) -> Any:
    """``json.loads``, with every refusal that is not a syntax error turned into ``_Unusable``.

    Python limits integers to 4,300 digits (``ValueError``) and recursion to ~1,000 levels
    (``RecursionError``): valid-looking input that must be rejected, not crash the run.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _Unusable("unusable JSON: nested too deeply") from None
    except ValueError as exc:
        if "int_max_str_digits" in str(exc):  # Python's advice is for programmers
            raise _Unusable(f"unusable JSON: a number of more than {sys.get_int_max_str_digits():,} digits") from None
        raise _Unusable(f"unusable JSON: {str(exc)[:200]}") from None




@dataclass(slots=True)
class ReadItem:
    """One event (``event``) or one unreadable piece (``error``) at ``line`` (1-based).

    ``index`` is the position inside a JSON array (0-based) or None; ``raw``
    is the text of a rejected piece (for the rejects file).
    """

    line: int
    index: int | None = None
    event: Mapping[str, Any] | None = None
    error: str | None = None
    raw: str | None = None

    @property
    def position(self) -> str:
        """``line 12`` or ``line 3 item 5``: where to look in the file."""
        return f"line {self.line}" if self.index is None else f"line {self.line} item {self.index + 1}"


def unwrap_sns(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The message inside an SNS envelope; the object itself if it is not one; None for control messages.

    ``SubscriptionConfirmation`` and ``UnsubscribeConfirmation`` are SNS
    housekeeping, not events.  Raises ``ValueError`` when the ``Message``
    string is not JSON.
    """
    if "TopicArn" not in obj or "Message" not in obj or "Type" not in obj:
        return obj
    if obj.get("Type") != "Notification":
        return None
    message = obj.get("Message")
    if isinstance(message, Mapping):
        return message
    if not isinstance(message, str):
        raise ValueError("SNS Message is neither a JSON string nor an object")
    try:
        inner = _loads(message)
    except json.JSONDecodeError as exc:
        raise ValueError(f"SNS Message is not JSON: {exc.msg} at char {exc.pos}") from None
    except _Unusable as exc:
        raise ValueError(f"SNS Message: {exc}") from None
    if not isinstance(inner, Mapping):
        raise ValueError("SNS Message is not a JSON object")
    return inner


def _items(value: Any, line: int, raw: str) -> Iterator[ReadItem]:
    """Events of one parsed JSON value: an object, or an array of objects."""
    if isinstance(value, list):
        for i, element in enumerate(value):
            yield from _one(element, line, i, None)
    else:
        yield from _one(value, line, None, raw)


def _one(value: Any, line: int, index: int | None, raw: str | None) -> Iterator[ReadItem]:
    if not isinstance(value, Mapping):
        text = raw if raw is not None else json.dumps(value)
        yield ReadItem(line, index, error=f"expected a JSON object, got {type(value).__name__}", raw=text)
        return
    try:
        inner = unwrap_sns(value)
    except ValueError as exc:
        yield ReadItem(line, index, error=str(exc), raw=raw if raw is not None else json.dumps(value))
        return
    if inner is not None:
        yield ReadItem(line, index, event=inner)


def read_events(lines: Iterable[str]) -> Iterator[ReadItem]:
    """Every event in ``lines`` (a text file or stdin), each with its position.

    A line that is a whole JSON value is taken as is (JSON lines, a one-line
    array); a line that starts a value but does not finish it begins a
    multi-line document, which ends at the next line starting in column 0
    (how every pretty-printer closes its top-level value; an array may also
    hold its elements in column 0).  Blank lines and a leading byte-order mark
    are skipped.  Anything else is an error item with the whole rejected text;
    reading goes on.
    """
    buf: list[str] = []
    size = 0
    start = 0
    lineno = 0
    for lineno, line in enumerate(lines, 1):
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]
        if buf:
            buf.append(line)
            size += len(line)
            if line[:1] not in ("", " ", "\t", "\r", "\n"):
                text = "".join(buf)
                try:
                    value = _loads(text)
                except _Unusable as exc:
                    yield ReadItem(start, error=str(exc), raw=text)
                    buf, size = [], 0
                    continue
                except json.JSONDecodeError as exc:
                    in_array = buf[0].lstrip()[:1] == "[" and exc.pos >= len(text.rstrip())
                    if not in_array and line.lstrip()[:1] in ("{", "[") and _whole(line):
                        # the document was broken; this line is a fresh one
                        yield ReadItem(start, error=f"unfinished JSON document: {exc.msg}", raw="".join(buf[:-1]))
                        buf, size = [], 0
                        yield from _line(line, lineno)
                        continue
                    if size > MAX_DOCUMENT_BYTES:
                        yield ReadItem(start, error=f"JSON document over {MAX_DOCUMENT_BYTES} bytes: {exc.msg}",
                                       raw=text)
                        buf, size = [], 0
                    continue
                buf, size = [], 0
                yield from _items(value, start, text)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if len(stripped) > STREAM_ARRAY_CHARS and stripped[0] == "[" and stripped[-1] == "]":
            yield from _stream_array(stripped, lineno)
            continue
        try:
            value = _loads(stripped)
        except _Unusable as exc:
            yield ReadItem(lineno, error=str(exc), raw=stripped)
            continue
        except json.JSONDecodeError as exc:
            if stripped[0] in "{[" and exc.pos >= len(stripped):
                buf, size, start = [line], len(line), lineno  # a value that goes on below
            else:
                yield ReadItem(lineno, error=f"not JSON: {exc.msg} at column {exc.colno}", raw=stripped)
            continue
        yield from _items(value, lineno, stripped)
    if buf:
        yield ReadItem(start, error="JSON document not closed at the end of the input", raw="".join(buf))


def _stream_array(text: str, lineno: int) -> Iterator[ReadItem]:
    """The elements of a one-line JSON array, decoded one at a time.

    A provider's export can be a single line holding a million events: decoded
    whole, its objects would take several times the line's own memory.  An
    element that cannot be decoded ends the array there (its position and
    the rest of the line are rejected); the elements before it are kept.
    """
    decoder = json.JSONDecoder()
    skip = _SPACE.match
    pos = skip(text, 1).end()
    index = 0
    if text[pos:pos + 1] == "]":
        return
    while True:
        start = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else f"{type(exc).__name__}: {str(exc)[:200]}"
            yield ReadItem(lineno, index, error=f"array element not readable: {why}", raw=text[start:])
            return
        yield from _one(value, lineno, index, None)
        index += 1
        pos = skip(text, pos).end()
        if text[pos:pos + 1] == ",":
            pos = skip(text, pos + 1).end()
            continue
        if text[pos:pos + 1] != "]" or text[pos + 1:].strip():
            yield ReadItem(lineno, index, error=f"array broken at column {pos + 1}", raw=text[pos:])
        return


def _whole(text: str) -> bool:
    """True when ``text`` parses as one JSON value (cheap check: its last character closes it)."""
    text = text.strip()
    if not text or text[-1] not in "}]":
        return False
    try:
        _loads(text)
    except (json.JSONDecodeError, _Unusable):
        return False
    return True


def _line(line: str, lineno: int) -> Iterator[ReadItem]:
    stripped = line.strip()
    try:
        value = _loads(stripped)
    except _Unusable as exc:
        yield ReadItem(lineno, error=str(exc), raw=stripped)
        return
    except json.JSONDecodeError as exc:
        yield ReadItem(lineno, error=f"not JSON: {exc.msg} at column {exc.colno}", raw=stripped)
        return
    yield from _items(value, lineno, stripped)
