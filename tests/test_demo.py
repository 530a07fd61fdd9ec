"""The demo database: deterministic, and made by the real rules."""

from __future__ import annotations

from models.demo import build_demo
from models.schema import Address, AuditLog, Consent, Event, Mailing, Recipient
from tui.cli import main


def _snapshot() -> tuple:
    return (
        Address.select().where(Address.status == "blocked").count(),
        Address.select().where(Address.global_block == True).count(),  # noqa: E712
        Consent.select().where(Consent.state == "revoked").count(),
        Event.select().count(),
        sorted((r.email, r.status) for r in Recipient.select(Recipient.email, Recipient.status)),
    )


def test_demo_is_realistic_and_made_by_the_rules(db) -> None:
    result = build_demo(persons=300)
    assert Mailing.select().count() == 6
    assert result.blocked > 0 and result.global_blocks >= 1 and result.consent_revoked > 0
    statuses = {r.status for r in Recipient.select(Recipient.status).distinct()}
    assert {"delivered", "opened", "bounced", "complained"} <= statuses
    # the address that kept bouncing softly went over the limit
    assert Address.select().where(Address.blocked_cause.contains("> limit 5")).exists()
    assert AuditLog.select().where(AuditLog.action == "rule: block address").exists()
    assert all(a.email.isascii() for a in Address.select(Address.email))


def test_demo_is_deterministic(tmp_path) -> None:
    from models.db import close_database, open_database

    snaps = []
    for n in range(2):
        open_database(f"sqlite:///{tmp_path / f'd{n}.db'}")
        build_demo(persons=150, seed=3, now=__import__("datetime").datetime(2026, 11, 20, 12))
        snaps.append(_snapshot())
        close_database()
    assert snaps[0] == snaps[1]


def test_demo_command_if_missing(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'cmd.db'}"
    assert main(["--db", url, "demo", "--size", "60", "--corpus", str(tmp_path / "none")]) == 2
    assert main(["--db", url, "demo", "--size", "60"]) == 0
    assert main(["--db", url, "demo", "--if-missing"]) == 0
    assert main(["--db", url, "demo", "--size", "60"]) == 2  # refuses to add to a full database
    assert "already holds data" in capsys.readouterr().err
