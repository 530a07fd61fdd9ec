"""Every blocked address of one account or all: reason, bounce count, blocked since, global flag."""

from __future__ import annotations

from models.filters import ViewFilter
from tui.screens.listing import AccountListScreen


class BlockedScreen(AccountListScreen):
    """Blocked addresses, newest first; ``a`` switches the account."""

    VIEW = "blocked"
    TITLE = "Blocked addresses"

    def view_filter(self) -> ViewFilter:
        return ViewFilter("blocked", account_id=self.app.account_id, search=self.search, extra=tuple(self.extra))
