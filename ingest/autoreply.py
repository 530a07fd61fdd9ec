"""RFC 3834 automatic replies (vacation, out-of-office): never a bounce.

Checked only after the message was found not to be a delivery report,
because some MTAs mark their bounces ``Auto-Submitted: auto-replied`` too.
"""

from __future__ import annotations

import re

from ingest.mime import Part

_SUBJECT_RE = re.compile(
    r"auto(?:matic|matische?|matisk)?[ -]?(?:reply|response|respond|antwort|antwoord|svar|reponse|réponse|respuesta|risposta)"
    r"|out of (?:the )?office|\bvacation\b|\babsen(?:t|ce)\b|abwesen|\bautoreply\b|réponse automatique|reponse automatique"
    r"|respuesta autom[aá]tica|risposta automatica|automatisch antwoord|fravær|frånvaro|poissa|nieobecno|不在|自動応答|自動返信|自动回复",
    re.IGNORECASE,
)


def is_autoreply(root: Part, subject: str) -> bool:
    """True for RFC 3834 auto-replies and the common vendor equivalents."""
    auto = root.get("auto-submitted").strip().lower()
    if auto.startswith("auto-replied"):
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-vacation-reply"):
        if root.get(name):
            return True
    prec = root.get("precedence").strip().lower()
    if prec == "auto_reply":
        return True
    if root.get("x-ms-exchange-inbox-rules-loop") or root.get("x-auto-response-suppress") or auto.startswith("auto-generated"):
        return bool(_SUBJECT_RE.search(subject))
    return bool(_SUBJECT_RE.search(subject)) and not root.get("list-id")
