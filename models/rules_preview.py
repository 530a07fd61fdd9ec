"""What changing a rule setting would do to existing addresses, before and when it is saved.

The blocking rules of ``models.events`` judge each new event against the
settings of the moment.  An operator who changes "accepted bounces before the
address is disabled" from 5 to 2 expects the addresses that already have 3
consecutive soft bounces to be blocked now, and raising it to expect the
addresses blocked only by the soft-bounce rule to come back; the preview
counts exactly the rows ``apply_setting`` then changes, with the same
queries, so the number shown is the number done.

Coupling: ``models.events`` writes ``blocked_cause`` of a soft-limit block as
``"soft bounce N > limit L ..."`` and of a global block as
``"global bounce: ..."``; these prefixes are how a block's rule is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import fn

from models import audit
from models.db import write_transaction
from models.schema import Address, AuditItem, Event, utcnow
from models.settings import DEFAULTS, get_setting, set_setting

SOFT_CAUSE_PREFIX = "soft bounce "
GLOBAL_CAUSE_PREFIX = "global bounce"


@dataclass(frozen=True, slots=True)
class Preview:
    """How many addresses a setting change would block and release."""

    would_block: int
    would_release: int


@dataclass(frozen=True, slots=True)
class SettingChange:
    """What ``apply_setting`` did."""

    audit_id: int
    blocked: int
    released: int


def _soft_block_candidates(new_limit: int):  # noqa: ANN202 - a peewee query
    """Active addresses whose consecutive soft bounces already exceed ``new_limit``."""
    return Address.select().where((Address.status == "active") & (Address.bounce_count > new_limit))


def _soft_release_candidates(new_limit: int):  # noqa: ANN202
    """Addresses blocked only by the soft-bounce rule whose count is within ``new_limit``."""
    return Address.select().where(
        (Address.status == "blocked") & (Address.global_block == False)  # noqa: E712
        & Address.blocked_cause.startswith(SOFT_CAUSE_PREFIX) & (Address.bounce_count <= new_limit))


def preview_soft_limit(new_limit: int) -> tuple[int, int]:
    """(would_block, would_release) if ``soft_bounce_limit`` became ``new_limit``."""
    return _soft_block_candidates(new_limit).count(), _soft_release_candidates(new_limit).count()


def _hard_accounts_per_email():  # noqa: ANN202
    """E-mail -> number of accounts with a recipient-blame hard bounce of it (the global rule's input)."""
    return (Event.select(Event.email, fn.COUNT(Event.account.distinct()).alias("n"))
            .where((Event.kind == "bounce") & (Event.severity == "hard") & (Event.blame == "recipient")
                   & Event.account.is_null(False))
            .group_by(Event.email))


def _global_block_candidates(accounts: int):  # noqa: ANN202
    hard = _hard_accounts_per_email().having(fn.COUNT(Event.account.distinct()) >= accounts)
    return Address.select().where((Address.global_block == False) & Address.email.in_(  # noqa: E712
        hard.select(Event.email)))


def _global_release_candidates(accounts: int):  # noqa: ANN202
    """Global blocks below the new threshold, whose own account saw no hard bounce of them."""
    meets = _hard_accounts_per_email().having(fn.COUNT(Event.account.distinct()) >= accounts)
    own_hard = Event.select(Event.address).where(
        (Event.kind == "bounce") & (Event.severity == "hard") & (Event.blame == "recipient")
        & Event.address.is_null(False))
    return Address.select().where(
        (Address.global_block == True) & ~Address.email.in_(meets.select(Event.email))  # noqa: E712
        & ~Address.id.in_(own_hard))


def _global_unflag_candidates(accounts: int):  # noqa: ANN202
    """Every global block below the new threshold (released or not, the flag goes)."""
    meets = _hard_accounts_per_email().having(fn.COUNT(Event.account.distinct()) >= accounts)
    return Address.select().where((Address.global_block == True)  # noqa: E712
                                  & ~Address.email.in_(meets.select(Event.email)))


def preview_global_accounts(accounts: int) -> tuple[int, int]:
    """(would_block, would_release) if ``global_bounce_accounts`` became ``accounts``."""
    accounts = max(1, accounts)
    return _global_block_candidates(accounts).count(), _global_release_candidates(accounts).count()


def preview_setting(key: str, value: Any) -> Preview | None:
    """The preview of changing ``key`` to ``value``; None when the setting changes no stored address."""
    if key == "soft_bounce_limit":
        return Preview(*preview_soft_limit(int(value)))
    if key == "global_bounce_accounts":
        return Preview(*preview_global_accounts(int(value)))
    return None


def _items(audit_id: int, rows: list[Address], note: str) -> None:
    AuditItem.insert_many([
        {"audit": audit_id, "address_id": a.id, "person_id": a.person_id, "email": a.email,
         "prev_status": a.status, "prev_bounce_count": a.bounce_count, "prev_blocked_reason": a.blocked_reason,
         "prev_blocked_category": a.blocked_category, "prev_blocked_at": a.blocked_at,
         "prev_blocked_cause": a.blocked_cause, "prev_global_block": a.global_block, "note": note}
        for a in rows
    ]).execute() if rows else None


def _ids(rows: list[Address]) -> list[int]:
    return [a.id for a in rows]


def _update_in_batches(ids: list[int], **values: Any) -> None:
    for i in range(0, len(ids), 10_000):
        Address.update(**values).where(Address.id.in_(ids[i:i + 10_000])).execute()


def apply_setting(key: str, value: Any, *, cause: str = "settings screen") -> SettingChange:
    """Store a setting, apply it to existing addresses where it decides blocking, audit it.

    One transaction: the setting, the blocks and releases and the audit entry
    (one item per changed address with its previous values) land together.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    old = get_setting(key)
    now = utcnow()
    blocked: list[Address] = []
    released: list[Address] = []
    with write_transaction():
        set_setting(key, value)
        if key == "soft_bounce_limit":
            blocked = list(_soft_block_candidates(value))
            released = list(_soft_release_candidates(value))
        elif key == "global_bounce_accounts":
            value = max(1, int(value))
            blocked = list(_global_block_candidates(value))
            released = list(_global_release_candidates(value))
            unflag = [a.id for a in _global_unflag_candidates(value)]
        entry = audit.log(f"setting: {key}", cause=cause, affected=len(blocked) + len(released),
                          details={"key": key, "old": old, "new": value,
                                   "blocked": len(blocked), "released": len(released)})
        _items(entry.id, blocked, f"blocked: {key} changed from {old} to {value}")
        _items(entry.id, released, f"released: {key} changed from {old} to {value}")
        if key == "soft_bounce_limit":
            groups: dict[tuple[str, str, int], list[int]] = {}
            for a in blocked:  # the cause names each row's own count, as the live rule writes it
                groups.setdefault((a.last_reason or "undefined", a.last_category or "other", a.bounce_count),
                                  []).append(a.id)
            for (reason, category, count), ids in groups.items():
                _update_in_batches(ids, status="blocked", blocked_reason=reason, blocked_category=category,
                                   blocked_at=now, blocked_cause=f"{SOFT_CAUSE_PREFIX}{count} > limit {value} "
                                                                 f"(setting changed from {old})")
        elif key == "global_bounce_accounts":
            _update_in_batches(_ids(blocked), global_block=True, status="blocked",
                               blocked_reason=fn.COALESCE(Address.blocked_reason, "userunknown"),
                               blocked_category=fn.COALESCE(Address.blocked_category, "unknown_user"),
                               blocked_at=fn.COALESCE(Address.blocked_at, now),
                               blocked_cause=f"{GLOBAL_CAUSE_PREFIX}: hard bounces in {value} or more accounts")
            _update_in_batches(unflag, global_block=False)
        _update_in_batches(_ids(released), status="active", blocked_reason=None, blocked_category=None,
                           blocked_at=None, blocked_cause=None)
    return SettingChange(entry.id, len(blocked), len(released))


def parse_setting(key: str, text: str) -> Any:
    """The value of setting ``key`` typed as ``text`` in a form; ValueError says what is wrong.

    Numbers are whole and not negative (a global bounce needs at least one
    account); ``hard_categories`` is a comma-separated list of taxonomy
    categories; the header and VERP prefix are single tokens.
    """
    from models.taxonomy import CATEGORIES

    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    default = DEFAULTS[key]
    text = text.strip()
    if isinstance(default, int):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        minimum = 1 if key == "global_bounce_accounts" else 0
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value
    if isinstance(default, list):
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in CATEGORIES or v == "complaint"]
        if unknown:
            allowed = ", ".join(c for c in CATEGORIES if c != "complaint")
            raise ValueError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                             f"(use {allowed})")
        return sorted(set(values))
    if not text or any(c.isspace() for c in text) or "@" in text or ":" in text:
        raise ValueError("must be one word without spaces, '@' or ':'")
    return text


def setting_text(value: Any) -> str:
    """The form text of a stored value (the inverse of ``parse_setting``)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
