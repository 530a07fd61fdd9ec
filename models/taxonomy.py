"""The reason taxonomy of ``shared/design/taxonomy.md`` as data and one function.

The parser (``ingest/``) and the provider importers only decide an event's
``kind`` and fine ``reason``.  Category, severity and blame are derived here,
once, so that a bounce read from a mailbox and the same bounce reported by a
provider end up with identical labels and are treated identically by the
blocking rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["bounce", "delay", "complaint", "autoreply", "delivered", "unsubscribe", "open", "other"]
Category = Literal["unknown_user", "mailbox_full", "content", "spam", "policy", "other", "complaint"]
Severity = Literal["hard", "soft", "pending", "suppressed"]
Blame = Literal["recipient", "sender"]

KINDS: Final[tuple[str, ...]] = (
    "bounce", "delay", "complaint", "autoreply", "delivered", "unsubscribe", "open", "other",
)
CATEGORIES: Final[tuple[str, ...]] = (
    "unknown_user", "mailbox_full", "content", "spam", "policy", "other", "complaint",
)
CATEGORY_LABELS: Final[dict[str, str]] = {
    "unknown_user": "Unknown user",
    "mailbox_full": "Mailbox full",
    "content": "Content",
    "spam": "Spam",
    "policy": "Policy",
    "other": "Other",
    "complaint": "Complaint",
}
SEVERITIES: Final[tuple[str, ...]] = ("hard", "soft", "pending", "suppressed")
BLAMES: Final[tuple[str, ...]] = ("recipient", "sender")
FEEDBACK_TYPES: Final[tuple[str, ...]] = (
    "abuse", "fraud", "virus", "other", "not-spam", "auth-failure", "opt-out",
)


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """What the taxonomy says about one fine reason."""

    category: str
    blame: str
    hard_capable: bool  # hard only together with a permanent (5xx) code
    meaning: str


#: reason -> (category, blame, may be hard, meaning); the table in taxonomy.md.
REASONS: Final[dict[str, ReasonInfo]] = {
    "userunknown": ReasonInfo("unknown_user", "recipient", True, "mailbox does not exist"),
    "hostunknown": ReasonInfo("unknown_user", "recipient", True, "domain does not exist or cannot be routed"),
    "hasmoved": ReasonInfo("unknown_user", "recipient", True, "mailbox moved, no forwarding"),
    "notaccept": ReasonInfo("unknown_user", "recipient", True, "host accepts no mail"),
    "suspend": ReasonInfo("unknown_user", "recipient", False, "account disabled or inactive"),
    "mailboxfull": ReasonInfo("mailbox_full", "recipient", False, "over quota"),
    "exceedlimit": ReasonInfo("content", "sender", False, "message over a per-recipient limit"),
    "mesgtoobig": ReasonInfo("content", "sender", False, "message too large"),
    "contenterror": ReasonInfo("content", "sender", False, "header or MIME rejected"),
    "notcompliantrfc": ReasonInfo("content", "sender", False, "message breaks RFC 5322"),
    "virusdetected": ReasonInfo("content", "sender", False, "virus scanner rejected it"),
    "spamdetected": ReasonInfo("spam", "sender", False, "content judged spam"),
    "badreputation": ReasonInfo("spam", "sender", False, "sending IP's reputation too low"),
    "filtered": ReasonInfo("policy", "recipient", False, "refused by the recipient's own filter"),
    "blocked": ReasonInfo("policy", "sender", False, "our IP, host name or HELO refused"),
    "requireptr": ReasonInfo("policy", "sender", False, "our IP has no valid reverse DNS"),
    "authfailure": ReasonInfo("policy", "sender", False, "SPF, DKIM or DMARC failed"),
    "policyviolation": ReasonInfo("policy", "sender", False, "the receiver's local policy"),
    "securityerror": ReasonInfo("policy", "sender", False, "other security problem"),
    "rejected": ReasonInfo("policy", "sender", False, "our envelope sender refused"),
    "failedstarttls": ReasonInfo("policy", "sender", False, "TLS required but failed"),
    "norelaying": ReasonInfo("other", "sender", False, "relay access denied"),
    "speeding": ReasonInfo("other", "sender", False, "sending too fast"),
    "toomanyconn": ReasonInfo("other", "sender", False, "too many connections or recipients"),
    "syntaxerror": ReasonInfo("other", "sender", False, "receiver did not understand our SMTP command"),
    "systemerror": ReasonInfo("other", "recipient", False, "receiver's internal error"),
    "systemfull": ReasonInfo("other", "recipient", False, "receiver's disk full"),
    "mailererror": ReasonInfo("other", "recipient", False, "receiver's delivery program failed"),
    "networkerror": ReasonInfo("other", "recipient", False, "DNS or network failure"),
    "expired": ReasonInfo("other", "recipient", False, "gave up after retrying"),
    "onhold": ReasonInfo("other", "recipient", False, "too little information to decide"),
    "undefined": ReasonInfo("other", "recipient", False, "no reason detected"),
    "suppressed": ReasonInfo("other", "recipient", False, "provider did not send: already on its list"),
    "feedback": ReasonInfo("complaint", "recipient", False, "spam complaint"),
    "vacation": ReasonInfo("other", "recipient", False, "automatic reply"),
    "delivered": ReasonInfo("other", "recipient", False, "success notice"),
}

#: The four reasons that may be hard (with a 5xx code).
HARD_REASONS: Final[frozenset[str]] = frozenset(r for r, i in REASONS.items() if i.hard_capable)


@dataclass(frozen=True, slots=True)
class Classification:
    """The three labels derived from kind and reason."""

    category: str | None
    severity: str | None
    blame: str | None


def is_permanent(status: str | None, reply: str | None) -> bool:
    """True when the RFC 3463 status or, lacking one, the SMTP reply is of class 5.

    The status wins over the reply code because MTAs often answer ``550`` for
    what they themselves call a temporary ``4.x.x`` condition and the enhanced
    status is the more precise of the two.
    """
    if status:
        return status.strip().startswith("5")
    if reply:
        return reply.strip().startswith("5")
    return False


def classify(
    kind: str,
    reason: str | None,
    status: str | None = None,
    reply: str | None = None,
    *,
    gave_up: bool = False,
    hard_categories: frozenset[str] = frozenset(),
) -> Classification:
    """Derive category, severity and blame for one event.

    Only ``userunknown``, ``hostunknown``, ``hasmoved`` and ``notaccept`` are
    hard, and only with a permanent code: vendors that make mailbox-full or
    spam rejections hard throw away good addresses.  ``gave_up`` marks a DSN
    ``Action: failed`` with a 4.x.x status: a soft bounce, never a delay.
    ``hard_categories`` lets the operator tighten the rule per category
    (setting ``hard_categories``): a permanent recipient-blame bounce in such
    a category is hard too.
    """
    if kind == "complaint":
        return Classification("complaint", None, "recipient")
    if kind == "delay":
        info = REASONS.get(reason or "undefined", REASONS["undefined"])
        return Classification(info.category, "pending", info.blame)
    if kind != "bounce":
        return Classification(None, None, None)
    if reason == "suppressed":
        return Classification("other", "suppressed", "recipient")
    info = REASONS.get(reason or "undefined", REASONS["undefined"])
    permanent = is_permanent(status, reply) and not gave_up
    hard = permanent and (
        info.hard_capable or (info.blame == "recipient" and info.category in hard_categories)
    )
    return Classification(info.category, "hard" if hard else "soft", info.blame)
