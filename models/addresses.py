"""E-mail address normalisation shared by every path that stores or matches one."""

from __future__ import annotations


def normalize_email(value: str) -> str:
    """The form addresses are stored and matched in: trimmed, unbracketed, lower-case.

    RFC 5321 lets a server treat local parts case-sensitively, but no
    mainstream mailbox provider does, and bounces routinely change the case
    of what was sent: matching case-insensitively is what links a bounce to
    its address.  The domain is converted to IDNA (ASCII) so that ``bücher.de``
    and ``xn--bcher-kva.de`` are one domain.
    """
    addr = value.strip().strip("<>").strip().strip(".").lower()
    if addr.startswith("mailto:"):
        addr = addr[7:]
    local, sep, domain = addr.rpartition("@")
    if not sep:
        return addr
    domain = domain.rstrip(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return f"{local}@{domain}"


def domain_of(email: str) -> str:
    """The domain part of a normalised address ('' when there is none)."""
    return email.rpartition("@")[2]
