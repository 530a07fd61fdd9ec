"""The database layer: URLs, migrations, refusing a newer schema."""

from __future__ import annotations

import pytest
from peewee import OperationalError

from models.db import DatabaseURLError, make_database, open_database, redact
from models.migrations import SCHEMA_VERSION, SchemaTooNewError, current_version
from models.schema import SchemaVersion
from tui.cli import main


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


def _server_url_with_password(password: str, dbname: str = "postgres") -> str:
    from urllib.parse import urlsplit

    from tests.conftest import postgres_admin_url

    parts = urlsplit(postgres_admin_url())
    return f"postgresql://{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}/{dbname}"


@pytest.mark.postgres
def test_wrong_postgres_password_is_one_line_without_the_password(capsys) -> None:
    url = _server_url_with_password("Wr0ng-S3cret%21")  # %21 is "!": both spellings must stay hidden
    with pytest.raises(OperationalError) as err:
        open_database(url)
    message = str(err.value)
    assert "password authentication failed" in message
    assert "Wr0ng-S3cret" not in message and "\n" not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # driver exception not chained

    assert main(["--db", url, "summary"]) == 1
    out = capsys.readouterr()
    assert "Wr0ng-S3cret" not in out.err + out.out
    assert out.err.startswith("bouncedesk: cannot use postgresql://") and ":***@" in out.err
    assert len(out.err.strip().splitlines()) == 1


@pytest.mark.postgres
def test_unreachable_postgres_names_the_redacted_url(capsys) -> None:
    url = "postgresql://ops:Unreachable-S3cret@127.0.0.1:1/prod"
    assert main(["--db", url, "summary"]) == 1
    err = capsys.readouterr().err
    assert "Unreachable-S3cret" not in err
    assert err.startswith("bouncedesk: cannot use postgresql://ops:***@127.0.0.1:1/prod: ")
    assert "Connection refused" in err and len(err.strip().splitlines()) == 1


def test_redact_keeps_user_hides_odd_passwords() -> None:
    for secret in ("p@ss:w/rd", "with%40at", "sp ace"):
        url = f"postgresql://bob:{secret}@db.example:5433/x"
        shown = redact(url)
        assert "bob:***@db.example:5433/x" in shown
        assert secret not in shown


def test_postgres_url_with_raw_slash_or_at_in_the_password(capsys) -> None:
    db = make_database("postgresql://bob:pa/ss@w%40rd@127.0.0.1:5433/prod?connect_timeout=3")
    params = db.connect_params
    assert (db.database, params["user"], params["password"], params["host"], params["port"]) == (
        "prod", "bob", "pa/ss@w@rd", "127.0.0.1", 5433)
    assert params["connect_timeout"] == "3"
    with pytest.raises(DatabaseURLError) as err:
        make_database("postgresql://bob:s3cret@db.example:notaport/prod")
    assert "s3cret" not in str(err.value) and "bad port" in str(err.value)
    assert main(["--db", "postgresql://bob:pa/ss@127.0.0.1:x/db", "summary"]) == 2
    err_text = capsys.readouterr().err
    assert "pa/ss" not in err_text and ":pa" not in err_text
    assert "bob:***@127.0.0.1:x/db" in err_text


def test_a_mistyped_sqlite_path_is_refused_not_created(tmp_path, monkeypatch, capsys) -> None:
    """A reading command (and the app) given a file that does not exist says so instead of reporting an empty one."""
    missing = tmp_path / "typo" / "bouncedsk.db"
    url = f"sqlite:///{missing}"
    for argv in (["--db", url, "summary"], ["--db", url, "sweep"], ["--db", url]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"bouncedesk: no database at {missing}") and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("BOUNCEDESK_DB", url)
    assert main(["summary"]) == 2 and "no database at" in capsys.readouterr().err
    assert not missing.exists() and not missing.parent.exists()

    # the built-in default location is created on first use, and an existing file opens as before
    monkeypatch.delenv("BOUNCEDESK_DB")
    assert main(["summary"]) == 0
    assert (tmp_path / "data" / "bouncedesk" / "bouncedesk.db").exists()
    assert main(["--db", f"sqlite:///{tmp_path / 'data' / 'bouncedesk' / 'bouncedesk.db'}", "summary"]) == 0
    # commands that write data (demo, import, ingest) still create the file they are given
    assert main(["--db", url, "demo", "--size", "50"]) == 0 and missing.exists()


def test_summary_lines_are_aligned(tmp_path, capsys) -> None:
    assert main(["--db", f"sqlite:///{tmp_path / 's.db'}", "demo", "--size", "50"]) == 0
    capsys.readouterr()
    assert main(["--db", f"sqlite:///{tmp_path / 's.db'}", "summary"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) > 5 and len({len(r) for r in rows}) == 1, rows  # every count ends in one column
