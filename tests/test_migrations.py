"""Schema versioning: an older database is upgraded on open, a newer one refused (both backends, and the CLI)."""

from __future__ import annotations

import pytest
from peewee import Database, IntegrityError

from models.actions import set_former_employee
from models.db import close_database, is_sqlite, open_database, redact
from models.filters import Target, ViewFilter
from models.migrations import SCHEMA_VERSION, MigrationError, SchemaTooNewError, current_version, missing_columns
from models.queries import fetch_page
from models.schema import (ALL_MODELS, RECIPIENT_REPORTED_SORTS, RECIPIENT_SORTS, Address, AddressState, Mailing,
                           Person, Recipient, SchemaVersion, Setting)
from tests import factories
from tests.conftest import _reset_postgres
from tui.cli import main

#: Dropped to make an "older" database: a nullable column, a NOT NULL one with a
#: constant default, a NOT NULL one with a callable default, and an audit column.
DROPPED_COLUMNS = (("address", "validation_suggestion"), ("person", "former_employee"),
                   ("person", "created_at"), ("audit_log", "undo_of"))
DROPPED_INDEXES = ("address_state_blocked_email", "recipient_mailing_id_phase_name_id", "event_kind_occurred_at_id")


def _index_names(db: Database, table: str) -> set[str]:
    return {i.name for i in db.get_indexes(table)}


def _make_older(db: Database, *, drop_version_table: bool) -> None:
    """Turn the open, current database into the shape an older build left behind."""
    for table, column in DROPPED_COLUMNS:
        db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    for name in DROPPED_INDEXES:
        db.execute_sql(f'DROP INDEX "{name}"')
    db.execute_sql('DROP TABLE "setting"')
    if drop_version_table:
        db.execute_sql('DROP TABLE "schema_version"')
    else:
        db.execute_sql('DELETE FROM "schema_version"')


@pytest.mark.parametrize("drop_version_table", [True, False], ids=["pre-versioning", "version-row-lowered"])
def test_older_database_is_upgraded_on_open_and_keeps_its_data(db, db_url, drop_version_table) -> None:
    acc = factories.account("acme")
    ada = factories.person(acc, "ada@example.com", name="Ada Lovelace")
    _make_older(db, drop_version_table=drop_version_table)
    close_database()
    assert "former_employee" not in {c.name for c in db.get_columns("person")}

    db = open_database(db_url)

    assert current_version(db) == SCHEMA_VERSION
    assert SchemaVersion.select().count() == SCHEMA_VERSION  # one row per step
    for model in ALL_MODELS:
        assert missing_columns(db, model) == [], model
    assert "address_state_blocked_email" in _index_names(db, "address_state")
    assert "recipient_mailing_id_phase_name_id" in _index_names(db, "recipient")
    assert "event_kind_occurred_at_id" in _index_names(db, "event")
    assert db.table_exists("setting")
    # old rows got the defaults of the added columns, and the data is all there
    person = Person.get(Person.id == ada.person_id)
    assert person.full_name == "Ada Lovelace" and person.former_employee is False and person.created_at is not None
    assert Address.get(Address.email == "ada@example.com").validation_suggestion is None
    # and the upgraded database works with the rules: a NOT NULL column is enforced again
    assert set_former_employee(Target(ViewFilter("addresses"), frozenset({ada.id}))) == 1
    assert Person.get(Person.id == ada.person_id).former_employee is True
    Setting.create(key="k", value="1")
    # reopening an up-to-date database changes nothing
    close_database()
    open_database(db_url)
    assert SchemaVersion.select().count() == SCHEMA_VERSION


def test_required_column_without_default_is_refused_and_nothing_changes(db, db_url) -> None:
    factories.mailing(factories.account("acme"), "M1", [])
    db.execute_sql('ALTER TABLE "mailing" DROP COLUMN "name"')
    db.execute_sql('DROP INDEX "address_state_blocked_email"')
    db.execute_sql('DELETE FROM "schema_version"')
    close_database()

    with pytest.raises(MigrationError, match="'mailing' lacks the required column 'name'"):
        open_database(db_url)

    db = open_database(db_url, migrate=False)
    assert current_version(db) == 0  # the step ran in one transaction: rolled back as a whole
    assert "address_state_blocked_email" not in _index_names(db, "address_state")
    assert Mailing.select(Mailing.code).scalar() == "M1"


def test_newer_schema_is_refused_and_left_untouched(db, db_url) -> None:
    SchemaVersion.create(version=SCHEMA_VERSION + 1)
    close_database()
    with pytest.raises(SchemaTooNewError) as err:
        open_database(db_url)
    assert f"schema version {SCHEMA_VERSION + 1} is newer than this bouncedesk supports" in str(err.value)
    db = open_database(db_url, migrate=False)
    assert current_version(db) == SCHEMA_VERSION + 1


def test_cli_refuses_newer_schema_with_exit_1_and_no_password(db, db_url, capsys) -> None:
    SchemaVersion.create(version=SCHEMA_VERSION + 7)
    close_database()
    assert main(["--db", db_url, "summary"]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == (f"bouncedesk: cannot use {redact(db_url)}: database schema version {SCHEMA_VERSION + 7} "
                        f"is newer than this bouncedesk supports ({SCHEMA_VERSION}); upgrade bouncedesk")
    if not is_sqlite():
        from urllib.parse import urlsplit

        password = urlsplit(db_url).password
        assert password and f":{password}@" not in err and ":***@" in err


def test_cli_reports_failed_upgrade_with_exit_1(db, db_url, capsys) -> None:
    db.execute_sql('ALTER TABLE "mailing" DROP COLUMN "name"')
    db.execute_sql('DELETE FROM "schema_version"')
    close_database()
    assert main(["--db", db_url, "summary"]) == 1
    err = capsys.readouterr().err
    assert "cannot upgrade: table 'mailing' lacks the required column 'name'" in err
    assert "Traceback" not in err


def _make_version_1(db: Database) -> None:
    """Turn the open, current database into version 1: the bounce state in columns of ``address``."""
    stamp = "DATETIME" if is_sqlite() else "TIMESTAMP"
    for column in ("status VARCHAR(255) NOT NULL DEFAULT 'active'", "bounce_count INTEGER NOT NULL DEFAULT 0",
                   "blocked_reason VARCHAR(255)", "blocked_category VARCHAR(255)", f"blocked_at {stamp}",
                   "blocked_cause TEXT", "global_block BOOLEAN NOT NULL DEFAULT false"):
        db.execute_sql(f"ALTER TABLE address ADD COLUMN {column}")
    db.execute_sql("CREATE INDEX address_blocked_email_id ON address (email, id) WHERE status = 'blocked'")
    db.execute_sql("CREATE INDEX address_bounce_count ON address (bounce_count)")
    db.execute_sql("DROP TABLE address_state")
    for index in _index_names(db, "selection_member"):
        if "added_by" in index:
            db.execute_sql(f'DROP INDEX "{index}"')
    db.execute_sql("ALTER TABLE selection_member DROP COLUMN added_by")
    db.execute_sql("DELETE FROM schema_version WHERE version > 1")


def test_version_1_moves_the_bounce_state_into_its_own_table(db, db_url) -> None:
    from models.address_state import state_of

    acc = factories.account("acme")
    gone, flaky, old, fine = (factories.person(acc, e) for e in (
        "gone@example.com", "flaky@example.com", "old@example.com", "fine@example.com"))
    _make_version_1(db)
    p = db.param
    db.execute_sql(f"UPDATE address SET status = 'blocked', blocked_reason = 'userunknown', blocked_category = "
                   f"'unknown_user', blocked_at = {p}, blocked_cause = 'hard bounce', global_block = {p} "
                   f"WHERE id = {p}", (factories.T0, True, gone.id))
    db.execute_sql(f"UPDATE address SET bounce_count = 2 WHERE id = {p}", (flaky.id,))
    db.execute_sql(f"UPDATE address SET status = 'blocked' WHERE id = {p}", (old.id,))  # no reason, no time
    close_database()

    db = open_database(db_url)

    assert current_version(db) == SCHEMA_VERSION
    columns = {c.name for c in db.get_columns("address")}
    assert not columns & {"status", "bounce_count", "blocked_reason", "blocked_at", "global_block"}
    assert not {"address_blocked_email_id", "address_bounce_count"} & _index_names(db, "address")
    assert missing_columns(db, AddressState) == []
    assert AddressState.select().count() == 3  # the address without a state has no row
    g = state_of(gone.id)
    assert (g.status, g.blocked_reason, g.blocked_category, g.blocked_at, g.blocked_cause, g.global_block,
            g.account_id, g.email, g.domain) == ("blocked", "userunknown", "unknown_user", factories.T0,
                                                 "hard bounce", True, acc.id, "gone@example.com", "example.com")
    assert (state_of(flaky.id).status, state_of(flaky.id).bounce_count) == ("active", 2)
    o = state_of(old.id)  # a blocked row needs a reason and a time: the migration supplies them
    assert o.status == "blocked" and o.blocked_reason == "undefined" and o.blocked_at is not None
    assert state_of(fine.id).status == "active"
    assert {r.id for r in fetch_page(ViewFilter("blocked"))} == {gone.id, old.id}


def test_version_2_recipients_get_their_phase_and_the_phase_indexes(db, db_url) -> None:
    """Version 3: the keyset indexes lead with (mailing, phase); an older database's rows get their phase."""
    acc = factories.account("acme")
    addrs = [factories.person(acc, f"p{i}@example.com") for i in range(6)]
    m = factories.mailing(acc, "M1", addrs)
    statuses = ("sent", "delivered", "opened", "pending", "bounced", "complained")
    # the shape version 2 left: status-leading indexes, no phase column (nor its guard)
    _drop_phase_guard(db)
    for a, status in zip(addrs, statuses):
        Recipient.update(status=status).where((Recipient.mailing == m) & (Recipient.address == a)).execute()
    _drop_current_sort_indexes(db)
    for col in RECIPIENT_SORTS:
        db.execute_sql(f'CREATE INDEX "recipient_mailing_id_status_{col}_id" ON recipient (mailing_id, status, {col}, id)')
    db.execute_sql('ALTER TABLE recipient DROP COLUMN phase')
    db.execute_sql("DELETE FROM schema_version WHERE version >= 3")
    close_database()

    db = open_database(db_url)
    assert current_version(db) == SCHEMA_VERSION == 4
    names = _index_names(db, "recipient")
    assert not any(n.startswith("recipient_mailing_id_status_") and n != "recipient_mailing_id_status_id"
                   for n in names), names
    assert _current_sort_indexes() <= names
    assert "recipient_mailing_id_status_id" in names
    got = {r.status: r.phase for r in Recipient.select(Recipient.status, Recipient.phase)}
    assert got == {"sent": "sent", "delivered": "sent", "opened": "opened", "pending": "pending",
                   "bounced": "bounced", "complained": "complained"}


def _current_sort_indexes() -> set[str]:
    """The names of this version's recipient sort indexes."""
    return ({f"recipient_mailing_id_phase_{col}_id" for col in RECIPIENT_SORTS if col not in RECIPIENT_REPORTED_SORTS}
            | {f"recipient_reported_{col}" for col in RECIPIENT_REPORTED_SORTS} | {"recipient_clean"})


def _drop_current_sort_indexes(db: Database) -> None:
    for name in _current_sort_indexes():
        db.execute_sql(f'DROP INDEX "{name}"')


def test_version_3_sorts_by_severity_category_reason_through_partial_indexes(db, db_url) -> None:
    """Version 4: the three full (mailing, phase, column, id) indexes of the reported columns give way to
    partial ones and one index of the recipients with nothing reported; pages read the same rows."""
    acc = factories.account("acme")
    addrs = [factories.person(acc, f"p{i}@example.com") for i in range(4)]
    m = factories.mailing(acc, "M1", addrs)
    Recipient.update(status="bounced", phase="bounced", severity="hard", category="unknown_user",
                     reason="user_unknown").where(Recipient.address == addrs[0]).execute()
    f = ViewFilter("recipients", mailing_id=m.id, statuses=("sent", "delivered", "opened", "bounced"))
    before = {col: [r.id for r in fetch_page(f, col)] for col in RECIPIENT_REPORTED_SORTS}
    _drop_current_sort_indexes(db)
    for col in RECIPIENT_SORTS:  # the shape version 3 left
        db.execute_sql(f'CREATE INDEX IF NOT EXISTS "recipient_mailing_id_phase_{col}_id" '
                       f'ON recipient (mailing_id, phase, {col}, id)')
    db.execute_sql("DELETE FROM schema_version WHERE version = 4")
    close_database()

    db = open_database(db_url)
    assert current_version(db) == SCHEMA_VERSION == 4
    names = _index_names(db, "recipient")
    assert _current_sort_indexes() <= names
    assert not {f"recipient_mailing_id_phase_{col}_id" for col in RECIPIENT_REPORTED_SORTS} & names
    assert {col: [r.id for r in fetch_page(f, col)] for col in RECIPIENT_REPORTED_SORTS} == before
    assert all(ids[-1] == Recipient.get(Recipient.address == addrs[0]).id for ids in before.values())


def _drop_phase_guard(db: Database) -> None:
    if not is_sqlite():  # SQLite has none (models.migrations._phase_guard)
        db.execute_sql("ALTER TABLE recipient DROP CONSTRAINT recipient_phase_follows_status")


@pytest.mark.postgres
def test_postgresql_refuses_a_phase_that_does_not_follow_the_status(postgres_url) -> None:
    """A writer that sets the status alone (raw SQL, a process of an older version) fails instead of putting
    the recipient in the wrong list; the guard comes back on the next open if it was dropped.  (SQLite has
    none: ``models.migrations._phase_guard`` says why.)"""
    close_database()
    _reset_postgres(postgres_url)
    db_url = postgres_url
    db = open_database(db_url)
    acc = factories.account("acme")
    m = factories.mailing(acc, "M1", [factories.person(acc, "p@example.com")])
    rec = Recipient.get(Recipient.mailing == m)
    Recipient.update(status="delivered").where(Recipient.id == rec.id).execute()  # the same phase: fine
    with pytest.raises(IntegrityError, match="phase"), db.atomic():
        Recipient.update(status="bounced").where(Recipient.id == rec.id).execute()
    with pytest.raises(IntegrityError, match="phase"), db.atomic():
        Recipient.insert(mailing=m, email="q@example.com", status="opened", phase="sent").execute()
    Recipient.update(status="bounced", phase="bounced").where(Recipient.id == rec.id).execute()
    assert Recipient.get_by_id(rec.id).phase == "bounced"
    # without the guard an older writer leaves a stale phase: the next open puts it right, then guards again
    _drop_phase_guard(db)
    Recipient.update(status="opened").where(Recipient.id == rec.id).execute()
    close_database()
    db = open_database(db_url)
    assert Recipient.get_by_id(rec.id).phase == "opened"
    with pytest.raises(IntegrityError, match="phase"), db.atomic():
        Recipient.update(status="bounced").where(Recipient.id == rec.id).execute()
    close_database()
