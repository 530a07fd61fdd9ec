"""Provider event importers: one module per e-mail service provider.

``PROVIDERS`` maps the name used on the command line (``bouncedesk events
--provider NAME``) to the module's ``to_events(obj, source=..., account_id=...,
mailing_header=...)``, which turns one JSON event into ``EventIn`` values
(an empty list for event types that say nothing about an address) or raises
``ProviderEventError`` for an event it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ingest.providers import mailgun, postmark, sendgrid, ses
from ingest.providers.common import ProviderEventError
from models.events import EventIn

ToEvents = Callable[..., list[EventIn]]

PROVIDERS: dict[str, ToEvents] = {
    "ses": ses.to_events,
    "mailgun": mailgun.to_events,
    "sendgrid": sendgrid.to_events,
    "postmark": postmark.to_events,
}


def to_events(provider: str, obj: Mapping[str, Any], **kwargs: Any) -> list[EventIn]:
    """Dispatch one event to its provider's importer."""
    try:
        convert = PROVIDERS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r} (one of {', '.join(PROVIDERS)})") from None
    return convert(obj, **kwargs)


__all__ = ["PROVIDERS", "ProviderEventError", "to_events"]
