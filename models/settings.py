"""Rule settings, stored in the database so a team shares them.

Values are JSON; ``DEFAULTS`` documents every key and its default, and is the
only place a default lives.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from models.schema import Setting

log = logging.getLogger(__name__)

DEFAULTS: Final[dict[str, Any]] = {
    # accepted bounces before the address is disabled: the (limit+1)-th consecutive soft bounce blocks
    "soft_bounce_limit": 5,
    # hours a pending (delayed) event may wait for a delivery before it counts as a soft bounce
    "pending_expiry_hours": 72,
    # a recipient-blame hard bounce of one address in this many accounts blocks it everywhere
    "global_bounce_accounts": 3,
    # categories whose permanent recipient-blame bounces the operator wants treated as hard
    "hard_categories": [],
    # header that carries the mailing code in the returned original
    "mailing_id_header": "X-Bouncedesk-Mailing",
    # local-part prefix of per-recipient return paths: bounces+<token>@domain
    "verp_prefix": "bounces",
}

DESCRIPTIONS: Final[dict[str, str]] = {
    "soft_bounce_limit": "Accepted bounces before the address is disabled",
    "pending_expiry_hours": "Hours a delayed message may stay pending before it counts as a soft bounce",
    "global_bounce_accounts": "Accounts with a hard bounce that make it a global bounce",
    "hard_categories": "Categories whose permanent bounces also block at once",
    "mailing_id_header": "Header carrying the mailing id in sent messages",
    "verp_prefix": "Local-part prefix of per-recipient return paths",
}


def get_setting(key: str) -> Any:
    """The stored value of ``key``, or its default (also when the stored value is unusable)."""
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    row = Setting.get_or_none(Setting.key == key)
    return _stored(key, row.value) if row else DEFAULTS[key]


def all_settings() -> dict[str, Any]:
    """Every setting with its current value (one query)."""
    values = dict(DEFAULTS)
    for row in Setting.select():
        if row.key in values:
            values[row.key] = _stored(row.key, row.value)
    return values


def _stored(key: str, raw: str) -> Any:
    """A stored value, checked as ``set_setting`` checks it; the default (and a log line) when it fails.

    Values are written by ``set_setting``, but the table is shared: a hand-made
    ``UPDATE``, or another version's, could store ``"abc"`` for a count.  The
    rules read settings for every batch; one bad row must not stop ingestion.
    """
    try:
        value = json.loads(raw)
        check(key, value)
    except (ValueError, TypeError) as exc:
        if (key, raw) not in _warned:  # settings are read for every batch: once is enough
            _warned.add((key, raw))
            log.warning("setting %s: stored value %.80r is unusable (%s); using the default %r",
                        key, raw, exc, DEFAULTS[key])
        return DEFAULTS[key]
    return value


_warned: set[tuple[str, str]] = set()


def check(key: str, value: Any) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is a valid value of ``key``.

    The one validator: ``set_setting``, values read back from the table and
    the Settings screen's form (``models.rules_preview.parse_setting``) all
    go through it.  Counts are whole and not negative (a global bounce needs
    at least one account); ``hard_categories`` names taxonomy categories;
    the header and the VERP prefix are single tokens.
    """
    from models.taxonomy import CATEGORIES

    default = DEFAULTS[key]
    if isinstance(default, bool) or not isinstance(value, type(default)):
        if not (isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool)):
            raise TypeError(f"setting {key!r} takes {type(default).__name__}, got {type(value).__name__}")
    if isinstance(default, int):
        minimum = 1 if key == "global_bounce_accounts" else 0
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
    elif isinstance(default, list):
        if not all(isinstance(item, str) for item in value):
            raise TypeError(f"setting {key!r} takes a list of names")
        unknown = [v for v in value if v not in CATEGORIES or v == "complaint"]
        if unknown:
            allowed = ", ".join(c for c in CATEGORIES if c != "complaint")
            raise ValueError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                             f"(use {allowed})")
    elif not value or any(c.isspace() for c in value) or "@" in value or ":" in value:
        raise ValueError("must be one word without spaces, '@' or ':'")


def set_setting(key: str, value: Any) -> None:
    """Store ``value`` for ``key`` (validated against the default's type).

    Callers that change rule behaviour go through ``models.rules`` so the
    change is audit-logged; this is the storage primitive.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    check(key, value)
    encoded = json.dumps(value)
    Setting.insert(key=key, value=encoded).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: encoded}
    ).execute()
