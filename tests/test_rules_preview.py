"""Settings previews count exactly what saving the setting then changes."""

from __future__ import annotations

import datetime as dt
import itertools

from models.events import EventIn, record_events
from models.rules_preview import apply_setting, preview_global_accounts, preview_setting, preview_soft_limit
from models.address_state import state_of
from models.schema import Address, AuditItem, AuditLog
from models.settings import get_setting, set_setting
from tests import factories as f

_keys = itertools.count()


def soft(email: str, n: int) -> list[EventIn]:
    return [EventIn(email=email, kind="bounce", reason="mailboxfull", smtp_status="4.2.2",
                    dedupe_key=f"s{next(_keys)}", occurred_at=f.T0 + dt.timedelta(minutes=next(_keys)))
            for _ in range(n)]


def hard(email: str, account_id: int) -> EventIn:
    return EventIn(email=email, kind="bounce", reason="userunknown", smtp_status="5.1.1", account_id=account_id,
                   dedupe_key=f"h{next(_keys)}", occurred_at=f.T0 + dt.timedelta(minutes=next(_keys)))


def state(email: str) -> str:
    return state_of(Address.get(Address.email == email).id).status


def test_soft_limit_preview_matches_what_saving_does(db) -> None:
    acc = f.account()
    addrs = [f.person(acc, f"p{i}@example.com") for i in range(4)]
    f.mailing(acc, "m1", addrs)
    set_setting("soft_bounce_limit", 5)
    record_events(soft("p0@example.com", 2) + soft("p1@example.com", 4) + soft("p2@example.com", 6))
    assert [state(a.email) for a in addrs] == ["active", "active", "blocked", "active"]

    assert preview_soft_limit(5) == (0, 0)
    assert preview_soft_limit(1) == (2, 0)  # p0 (2 > 1) and p1 (4 > 1)
    assert preview_soft_limit(6) == (0, 1)  # p2 (6 <= 6) comes back
    assert preview_setting("soft_bounce_limit", 3) == preview_setting("soft_bounce_limit", 3)

    change = apply_setting("soft_bounce_limit", 3)
    assert (change.blocked, change.released) == (1, 0)
    assert get_setting("soft_bounce_limit") == 3
    assert state("p1@example.com") == "blocked"
    p1 = state_of(Address.get(Address.email == "p1@example.com").id)
    assert p1.blocked_cause.startswith("soft bounce 4 > limit 3")
    assert p1.blocked_reason == "mailboxfull"
    entry = AuditLog.get_by_id(change.audit_id)
    assert entry.action == "setting: soft_bounce_limit" and entry.affected == 1
    assert AuditItem.get(AuditItem.audit == entry.id).prev_status == "active"

    change = apply_setting("soft_bounce_limit", 10)
    assert (change.blocked, change.released) == (0, 2)
    assert [state(a.email) for a in addrs] == ["active"] * 4
    assert state_of(Address.get(Address.email == "p2@example.com").id).blocked_cause is None
    assert preview_soft_limit(10) == (0, 0)


def test_hard_blocks_are_never_released_by_the_soft_limit(db) -> None:
    acc = f.account()
    a = f.person(acc, "gone@example.com")
    f.mailing(acc, "m1", [a])
    record_events(soft("gone@example.com", 2) + [hard("gone@example.com", acc.id)])
    assert state("gone@example.com") == "blocked"
    assert preview_soft_limit(100) == (0, 0)


def test_global_accounts_preview_and_apply(db) -> None:
    accs = [f.account(f"acc{i}") for i in range(3)]
    addrs = [f.person(acc, "shared@example.com") for acc in accs]
    for i, (acc, a) in enumerate(zip(accs, addrs)):
        f.mailing(acc, f"m{i}", [a])
    set_setting("global_bounce_accounts", 3)
    record_events([hard("shared@example.com", accs[0].id), hard("shared@example.com", accs[1].id)])
    # blocked in the two accounts that bounced it; not yet global
    assert [state_of(a.id).status for a in addrs] == ["blocked", "blocked", "active"]
    assert preview_global_accounts(3) == (0, 0)
    assert preview_global_accounts(2) == (3, 0)
    change = apply_setting("global_bounce_accounts", 2)
    assert change.blocked == 3
    assert all(state_of(a.id).global_block for a in addrs)
    assert state_of(addrs[2].id).status == "blocked"
    # back to 3: only the account without its own hard bounce is released
    assert preview_global_accounts(3) == (0, 1)
    change = apply_setting("global_bounce_accounts", 3)
    assert change.released == 1
    assert [state_of(a.id).status for a in addrs] == ["blocked", "blocked", "active"]
    assert not any(state_of(a.id).global_block for a in addrs)
