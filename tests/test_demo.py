"""The demo database: deterministic, and made by the real rules."""

from __future__ import annotations

from models.demo import build_demo
from models.schema import Address, AddressState, AuditLog, Consent, Event, Mailing, Recipient
from tui.cli import main


def _snapshot() -> tuple:
    return (
        AddressState.select().where(AddressState.status == "blocked").count(),
        AddressState.select().where(AddressState.global_block == True).count(),  # noqa: E712
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
    assert AddressState.select().where(AddressState.blocked_cause.contains("> limit 5")).exists()
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


def test_demo_command_takes_bounces_and_complaints_from_the_parsed_corpus(tmp_path) -> None:
    """Every returned-mail event of the demo carries a text the parser read from the shared corpus."""
    from models.db import close_database, open_database
    from tui.commands.demo import DEFAULT_CORPUS, corpus_templates

    templates = corpus_templates(DEFAULT_CORPUS)
    kinds = {t.kind for t in templates}
    assert {"bounce", "delay", "complaint"} <= kinds, kinds
    known = {(t.kind, t.reason, t.diagnostic) for t in templates}

    snaps = []
    for n in range(2):  # the command, twice with the default seed: the same database
        url = f"sqlite:///{tmp_path / f'demo{n}.db'}"
        assert main(["--db", url, "demo", "--size", "300"]) == 0
        open_database(url)
        events = list(Event.select().where(Event.kind.in_(("bounce", "delay", "complaint"))
                                           & (Event.provider == "demo")))
        assert {e.kind for e in events} == {"bounce", "delay", "complaint"}
        for e in events:
            assert (e.kind, e.reason, e.diagnostic.replace(e.email, "{email}")) in known, (e.kind, e.diagnostic)
        complaint_types = {e.feedback_type for e in events if e.kind == "complaint"}
        assert complaint_types <= {t.feedback_type for t in templates if t.kind == "complaint"}
        snaps.append(_snapshot())
        close_database()
    assert snaps[0] == snaps[1]
