"""Every spam complaint: person, address, mailing, feedback type, time and consent state."""

from __future__ import annotations

from models.filters import ViewFilter
from tui.screens.listing import AccountListScreen


class ComplaintsScreen(AccountListScreen):
    """Spam complaints, newest first; ``a`` switches the account."""

    VIEW = "complaints"
    TITLE = "Spam complaints"

    def view_filter(self) -> ViewFilter:
        return ViewFilter("complaints", account_id=self.app.account_id, search=self.search, extra=tuple(self.extra))
