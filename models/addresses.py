"""E-mail address normalisation shared by every path that stores or matches one."""

from __future__ import annotations


def normalize_email(value: str) -> str:
    """The form addresses are stored and matched in: trimmed, unbracketed, lower-case.

    Idempotent: every path may normalise what another path stored already.

    RFC 5321 lets a server treat local parts case-sensitively, but no
    mainstream mailbox provider does, and bounces routinely change the case
    of what was sent: matching case-insensitively is what links a bounce to
    its address.  The domain is converted to IDNA (ASCII) so that ``bücher.de``
    and ``xn--bcher-kva.de`` are one domain.
    """
    addr = value.lower()
    while True:  # until stable, so that normalising a stored form changes nothing (" .<a@b>", "mailto:<a@b>")
        before = addr
        addr = addr.strip().strip("<>.")
        if addr.startswith("mailto:"):
            addr = addr[7:]
        local, sep, domain = addr.rpartition("@")
        if sep and not domain.isascii():
            try:  # may drop or turn characters into ones stripped above ("b>\u200b", "b。"): in the loop
                addr = f"{local}@{domain.encode('idna').decode('ascii')}"
            except UnicodeError:
                pass
        if addr == before:
            return addr


def domain_of(email: str) -> str:
    """The domain part of a normalised address ('' when there is none)."""
    _, at, domain = email.rpartition("@")
    return domain if at else ""
