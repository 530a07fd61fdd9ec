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

from peewee import JOIN, ModelSelect, fn

from models import audit
from models.address_state import STATE_FIELDS, lock_state_writers, state_or_default, write_states
from models.db import write_transaction
from models.schema import Address, AddressState, AuditItem, Event, utcnow
from models.settings import DEFAULTS, check, get_setting, set_setting

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


def _addresses(join: str = JOIN.LEFT_OUTER) -> ModelSelect:
    """Addresses with their state as dicts (the defaults without a state row; ``JOIN.INNER``: only with one)."""
    return (Address.select(
        Address.id, Address.account.alias("account_id"), Address.person.alias("person_id"), Address.email,
        Address.domain, Address.last_reason, Address.last_category,
        *(state_or_default(name).alias(name) for name in STATE_FIELDS))
        .join(AddressState, join, on=(AddressState.id == Address.id)).dicts())


def _soft_block_candidates(new_limit: int) -> ModelSelect:
    """Active addresses whose consecutive soft bounces already exceed ``new_limit``."""
    return _addresses(JOIN.INNER).where((AddressState.status == "active") & (AddressState.bounce_count > new_limit))


def _soft_release_candidates(new_limit: int) -> ModelSelect:
    """Addresses blocked only by the soft-bounce rule whose count is within ``new_limit``."""
    return _addresses(JOIN.INNER).where(
        (AddressState.status == "blocked") & (AddressState.global_block == False)  # noqa: E712
        & AddressState.blocked_cause.startswith(SOFT_CAUSE_PREFIX) & (AddressState.bounce_count <= new_limit))


def preview_soft_limit(new_limit: int) -> tuple[int, int]:
    """(would_block, would_release) if ``soft_bounce_limit`` became ``new_limit``."""
    return _soft_block_candidates(new_limit).count(), _soft_release_candidates(new_limit).count()


def _hard_accounts_per_email():  # noqa: ANN202
    """E-mail -> number of accounts with a recipient-blame hard bounce of it (the global rule's input)."""
    return (Event.select(Event.email, fn.COUNT(Event.account.distinct()).alias("n"))
            .where((Event.kind == "bounce") & (Event.severity == "hard") & (Event.blame == "recipient")
                   & Event.account.is_null(False))
            .group_by(Event.email))


def _global_block_candidates(accounts: int) -> ModelSelect:
    hard = _hard_accounts_per_email().having(fn.COUNT(Event.account.distinct()) >= accounts)
    return _addresses().where(AddressState.global_block.is_null() | (AddressState.global_block == False)).where(  # noqa: E712
        Address.email.in_(hard.select(Event.email)))


def _global_release_candidates(accounts: int) -> ModelSelect:
    """Global blocks below the new threshold, whose own account saw no hard bounce of them."""
    own_hard = Event.select(Event.address).where(
        (Event.kind == "bounce") & (Event.severity == "hard") & (Event.blame == "recipient")
        & Event.address.is_null(False))
    return _global_unflag_candidates(accounts).where(~Address.id.in_(own_hard))


def _global_unflag_candidates(accounts: int) -> ModelSelect:
    """Every global block below the new threshold (released or not, the flag goes)."""
    meets = _hard_accounts_per_email().having(fn.COUNT(Event.account.distinct()) >= accounts)
    return _addresses(JOIN.INNER).where((AddressState.global_block == True)  # noqa: E712
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


def _items(audit_id: int, rows: list[dict], note: str) -> None:
    AuditItem.insert_many([
        {"audit": audit_id, "address_id": a["id"], "person_id": a["person_id"], "email": a["email"],
         "prev_status": a["status"], "prev_bounce_count": a["bounce_count"], "prev_blocked_reason": a["blocked_reason"],
         "prev_blocked_category": a["blocked_category"], "prev_blocked_at": a["blocked_at"],
         "prev_blocked_cause": a["blocked_cause"], "prev_global_block": a["global_block"], "note": note}
        for a in rows
    ]).execute() if rows else None


def apply_setting(key: str, value: Any, *, cause: str = "settings screen") -> SettingChange:
    """Store a setting, apply it to existing addresses where it decides blocking, audit it.

    One transaction: the setting, the blocks and releases and the audit entry
    (one item per changed address with its previous values) land together.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    old = get_setting(key)
    now = utcnow()
    blocked: list[dict] = []
    released: list[dict] = []
    unflag: list[dict] = []
    with write_transaction():
        lock_state_writers()
        set_setting(key, value)
        if key == "soft_bounce_limit":
            blocked = list(_soft_block_candidates(value))
            released = list(_soft_release_candidates(value))
        elif key == "global_bounce_accounts":
            value = max(1, int(value))
            blocked = list(_global_block_candidates(value))
            released = list(_global_release_candidates(value))
            unflag = list(_global_unflag_candidates(value))
        entry = audit.log(f"setting: {key}", cause=cause, affected=len(blocked) + len(released),
                          details={"key": key, "old": old, "new": value,
                                   "blocked": len(blocked), "released": len(released)})
        _items(entry.id, blocked, f"blocked: {key} changed from {old} to {value}")
        _items(entry.id, released, f"released: {key} changed from {old} to {value}")
        new: dict[int, dict] = {}  # address id -> its new state, the changes below applied in order
        for a in blocked:
            if key == "soft_bounce_limit":  # the cause names each row's own count, as the live rule writes it
                new[a["id"]] = dict(a, status="blocked", blocked_reason=a["last_reason"] or "undefined",
                                    blocked_category=a["last_category"] or "other", blocked_at=now,
                                    blocked_cause=f"{SOFT_CAUSE_PREFIX}{a['bounce_count']} > limit {value} "
                                                  f"(setting changed from {old})")
            else:
                new[a["id"]] = dict(a, global_block=True, status="blocked",
                                    blocked_reason=a["blocked_reason"] or "userunknown",
                                    blocked_category=a["blocked_category"] or "unknown_user",
                                    blocked_at=a["blocked_at"] or now,
                                    blocked_cause=f"{GLOBAL_CAUSE_PREFIX}: hard bounces in {value} or more accounts")
        for a in unflag:
            new[a["id"]] = dict(new.get(a["id"], a), global_block=False)
        for a in released:
            new[a["id"]] = dict(new.get(a["id"], a), status="active", blocked_reason=None, blocked_category=None,
                                blocked_at=None, blocked_cause=None)
        write_states(list(new.values()))
    return SettingChange(entry.id, len(blocked), len(released))


def parse_setting(key: str, text: str) -> Any:
    """The value of setting ``key`` typed as ``text`` in a form; ValueError says what is wrong.

    Numbers are whole numbers, ``hard_categories`` a comma-separated list; the
    value is then checked by ``models.settings.check``, as every stored value is.
    """
    if key not in DEFAULTS:
        raise KeyError(f"unknown setting {key!r}")
    default = DEFAULTS[key]
    text = text.strip()
    value: Any
    if isinstance(default, int):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    elif isinstance(default, list):
        value = sorted({v.strip() for v in text.split(",") if v.strip()})
    else:
        value = text
    check(key, value)
    return value


def setting_text(value: Any) -> str:
    """The form text of a stored value (the inverse of ``parse_setting``)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
