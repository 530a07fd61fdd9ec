"""The database layer: URLs, migrations, refusing a newer schema."""

from __future__ import annotations

import pytest

from models.db import DatabaseURLError, make_database, open_database, redact
from models.migrations import SCHEMA_VERSION, SchemaTooNewError, current_version
from models.schema import SchemaVersion


def test_redact_hides_password() -> None:
    assert redact("postgresql://bob:s3cret@db.example/prod") == "postgresql://bob:***@db.example/prod"
    assert "s3cret" not in redact("postgresql://bob:s3cret@host:5433/x")
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_bad_url_is_rejected_with_redacted_message() -> None:
    with pytest.raises(DatabaseURLError) as err:
        make_database("mysql://u:topsecret@h/db")
    assert "topsecret" not in str(err.value)


def test_sqlite_pragmas(sqlite_db) -> None:
    assert sqlite_db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sqlite_db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert sqlite_db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_migrations_create_and_record_version(db) -> None:
    assert current_version(db) == SCHEMA_VERSION
    assert "address" in db.get_tables()


def test_newer_schema_is_refused(db, db_url) -> None:
    SchemaVersion.create(version=SCHEMA_VERSION + 1)
    with pytest.raises(SchemaTooNewError, match="newer"):
        open_database(db_url)


def test_reopening_is_idempotent(db, db_url) -> None:
    open_database(db_url)
    assert SchemaVersion.select().count() == SCHEMA_VERSION
