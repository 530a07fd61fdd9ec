"""Shared fixtures: isolated data/config folders and the two database backends.

``db`` is parametrised over SQLite (a file in ``tmp_path``) and the real
PostgreSQL server that ``tests/setup/system.sh`` starts on 127.0.0.1.  The
PostgreSQL tests never skip: a missing server is an error, because CI must
prove the team backend works.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database

from models.db import close_database, open_database

from tests.dns_server import dns_server  # noqa: F401  (fixture: an authoritative DNS server on 127.0.0.1)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("BOUNCEDESK_DB", raising=False)


def postgres_admin_url() -> str:
    """The URL of the test server's maintenance database (started on demand)."""
    url_file = ROOT / ".pg-url"
    if not url_file.exists():
        subprocess.run(["bash", str(ROOT / "tests" / "setup" / "postgres.sh")], check=True)
    return url_file.read_text().strip()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    import psycopg

    admin = postgres_admin_url()
    name = f"bd_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + "/" + name
    close_database()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


def _reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("postgres_url")
    close_database()
    _reset_postgres(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An open, migrated, empty database of each backend."""
    database = open_database(db_url)
    yield database
    close_database()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """An open, migrated, empty SQLite database (for tests of SQLite-only behaviour)."""
    database = open_database(sqlite_url)
    yield database
    close_database()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests (Textual pilot tests) in a fresh event loop: the suite has no asyncio plugin."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
