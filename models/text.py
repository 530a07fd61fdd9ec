"""Text from the outside world, made storable and safe to show: the rules in one place.

Addresses, diagnostics, names and ids arrive from files anyone can write.
Two things must never reach the database or the operator's terminal: lone
surrogates (undecodable bytes, a JSON escape of half a character), which no
database driver can encode, and control characters (ESC, NUL...), which a
terminal would obey.  And PostgreSQL keeps ``CharField`` columns to
``CHAR_MAX`` characters, where SQLite would store anything.
"""

from __future__ import annotations

import re

#: ``VARCHAR(255)``: the length of every ``CharField`` column on PostgreSQL.
CHAR_MAX = 255

#: What a one-line value may not hold: control characters (tab and line breaks too) and lone surrogates.
LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: What a multi-line text (a diagnostic) may not hold: the same, but tab and line breaks stay.
TEXT_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _replacement(m: re.Match[str]) -> str:
    return "\ufffd" if m.group()[0] >= "\ud800" else " "


def clean_line(value: str) -> str:
    """``value`` with control characters as spaces and undecodable characters as U+FFFD."""
    return LINE_BAD.sub(_replacement, value)


def clean_text(value: str) -> str:
    """``clean_line`` for multi-line text: tab and line breaks are kept."""
    return TEXT_BAD.sub(_replacement, value)


def count_text(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with its noun in the right number: "1 row", "2 rows", "1,000 rows" (operators read these)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
