"""The audit log: who changed what, when, and why.

Every state change (a rule blocking an address, an operator's bulk action, a
setting) writes one ``AuditLog`` row; actions that can be undone also write
one ``AuditItem`` per affected row with the values they overwrote.
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Any

from models.schema import AuditLog, utcnow


def os_user() -> str:
    """The operating-system user (over SSH: the logged-in operator)."""
    for var in ("BOUNCEDESK_USER", "SUDO_USER", "LOGNAME", "USER"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def log(
    action: str,
    *,
    cause: str = "",
    affected: int = 0,
    details: dict[str, Any] | None = None,
    undoable: bool = False,
    account_id: int | None = None,
) -> AuditLog:
    """Write one audit entry and return it (callers add items for undo)."""
    return AuditLog.create(
        at=utcnow(),
        os_user=os_user(),
        action=action,
        cause=cause,
        affected=affected,
        details=json.dumps(details or {}, default=str, sort_keys=True),
        undoable=undoable,
        account=account_id,
    )
