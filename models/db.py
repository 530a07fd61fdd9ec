"""Opening the database: SQLite for one machine, PostgreSQL for a team.

The models are bound to a ``DatabaseProxy`` at import time and the real
database is chosen at start-up (peewee's deferred initialisation), so the
same code serves the app, the command line and the tests against either
backend.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from peewee import (
    Database,
    DatabaseError,
    DatabaseProxy,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
)

database = DatabaseProxy()

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: SQLite limits a statement to 32,766 bound parameters; batches stay well below.
MAX_PARAMS = 30_000


class DatabaseURLError(ValueError):
    """The database URL cannot be understood."""


class MissingDatabaseError(DatabaseURLError):
    """A SQLite URL names a file that does not exist, where none should be created."""


def data_dir() -> Path:
    """The XDG data directory of bouncedesk (created on demand)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    path = Path(base) / "bouncedesk"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_url() -> str:
    """``BOUNCEDESK_DB`` if set, else the SQLite file in the data directory."""
    env = os.environ.get("BOUNCEDESK_DB")
    if env:
        return env
    return f"sqlite:///{data_dir() / 'bouncedesk.db'}"


def chosen_url(given: str | None) -> tuple[str, bool]:
    """The URL to open for ``--db`` ``given`` and whether a missing SQLite file there may be created.

    Only the built-in default location is created on first use: a ``--db`` or
    ``BOUNCEDESK_DB`` naming a file that does not exist is far more often a
    typo than a wish for an empty database, and a command that only reads (a
    summary, the app) would otherwise report on a fresh, empty file as if it
    were the operator's data.
    """
    if given:
        return given, False
    return default_url(), not os.environ.get("BOUNCEDESK_DB")


def _sqlite_path(url: str) -> str:
    """The path part of a ``sqlite:`` URL as SQLite is given it: ``:memory:``, a file path, or "" for none."""
    path = unquote(urlsplit(url).path)
    if path.startswith("//"):
        path = path[1:]
    if path in ("", "/"):
        return ""
    return ":memory:" if path == "/:memory:" else path


def open_chosen(given: str | None) -> Database:
    """Open the database of ``--db`` ``given`` (else ``BOUNCEDESK_DB``, else the default file) for a command
    that does not create one: a missing SQLite file is refused unless it is the default location
    (``chosen_url``)."""
    url, create = chosen_url(given)
    return open_database(url, create=create)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for PostgreSQL, for ``:memory:`` and for a URL without a path)."""
    if urlsplit(url).scheme.lower() != "sqlite":
        return None
    path = _sqlite_path(url)
    return Path(path) if path and path != ":memory:" else None


def _userinfo(url: str) -> tuple[str, str | None, str] | None:
    """``(user, password, the rest after '@')`` of a URL, or None without user information.

    Not ``urlsplit``: a password typed with a raw ``/`` or ``@`` (instead of
    ``%2F``, ``%40``) makes it misread the host, and the secret would leak.
    The user information is everything between ``://`` and the last ``@``
    before the query string; whatever follows its first ``:`` is the password.
    """
    _scheme, sep, rest = url.partition("://")
    head = rest.partition("?")[0]
    userinfo, at, _host = head.rpartition("@")
    if not sep or not at:
        return None
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), rest[len(userinfo) + 1:]


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = _userinfo(url)
    if parts is None or parts[1] is None:
        return url
    return f"{url.partition('://')[0]}://{parts[0]}:***@{parts[2]}"


def make_database(url: str) -> Database:
    """Build (but do not connect) the peewee database for ``url``.

    SQLite gets WAL (readers never block the writer), a busy timeout so that
    concurrent writers wait instead of failing with "database is locked", and
    foreign keys.  PostgreSQL URLs follow libpq: ``postgresql://user:pass@host:port/db``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc and parts.netloc not in ("", "localhost"):
            raise DatabaseURLError(f"sqlite URL must be sqlite:///path, got {redact(url)}")
        path = _sqlite_path(url)
        if not path:
            raise DatabaseURLError(f"sqlite URL has no file path: {redact(url)}")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(
            path,
            timeout=30,
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 30_000,
                "foreign_keys": 1,
                "synchronous": "normal",
                "cache_size": -64_000,
                "temp_store": "memory",
            },
        )
    if scheme in ("postgres", "postgresql"):
        # user and password split off first (see _userinfo): a raw "/" or "@"
        # in a password must neither break the host nor end up in an error
        info = _userinfo(url)
        where = urlsplit("//" + (info[2] if info else url.partition("://")[2]))
        try:
            port = where.port
        except ValueError:
            raise DatabaseURLError(f"database URL has a bad port: {redact(url)}") from None
        dbname = unquote(where.path.lstrip("/")) or "bouncedesk"
        query = {k: v[-1] for k, v in parse_qs(where.query).items()}
        return PostgresqlDatabase(
            dbname,
            user=unquote(info[0]) if info and info[0] else None,
            password=unquote(info[1]) if info and info[1] else None,
            host=where.hostname or None,
            port=port or None,
            **query,
        )
    raise DatabaseURLError(f"unsupported database URL (use sqlite:///path or postgresql://...): {redact(url)}")


def open_database(url: str | None = None, *, migrate: bool = True, create: bool = True) -> Database:
    """Initialise the proxy for ``url``, connect, and bring the schema up to date.

    ``create=False``: a SQLite file that does not exist is refused
    (``MissingDatabaseError``) instead of being created empty.
    """
    from models.migrations import upgrade

    url = url or default_url()
    path = None if create else sqlite_file(url)
    if path is not None and not path.exists():
        raise MissingDatabaseError(f"no database at {path}: check --db or BOUNCEDESK_DB "
                                   "('bouncedesk demo' or 'bouncedesk import' creates one)")
    db = make_database(url)
    if not database.is_closed() if database.obj is not None else False:
        database.close()
    database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
    except DatabaseError as exc:
        raise OperationalError(_one_line(str(exc), url)) from None
    if migrate:
        try:
            upgrade(db)
        except BaseException:
            db.close()  # a refused or failed upgrade leaves no connection behind
            raise
    return db


def _one_line(message: str, url: str) -> str:
    """A driver's error as one line, with the URL's password removed should the driver echo it.

    ``from None`` above drops the driver's exception, whose attributes may
    carry the connection parameters, from the traceback.
    """
    parts = _userinfo(url)
    password = parts[1] if parts else None
    if password:
        message = message.replace(password, "***").replace(unquote(password), "***")
    return " ".join(message.split())


def is_sqlite() -> bool:
    """True when the open database is SQLite (a few statements differ)."""
    return isinstance(database.obj, SqliteDatabase)


def driver_sql(text: str) -> str:
    """Raw SQL written with ``?`` placeholders, in the open database's driver style (psycopg wants ``%s``)."""
    return text if database.param == "?" else text.replace("?", database.param)


def write_transaction():
    """A transaction that will write: on SQLite it takes the write lock at ``BEGIN``.

    A deferred SQLite transaction that reads first and writes later cannot
    wait for another writer: if one committed meanwhile, its snapshot is
    stale and SQLite fails at once with "database is locked", whatever the
    busy timeout.  ``BEGIN IMMEDIATE`` waits (up to the busy timeout) for the
    lock instead, before anything is read.  PostgreSQL needs nothing special.
    """
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")
    return database.atomic()


#: PostgreSQL SQLSTATEs after which running the whole transaction again is the documented remedy.
_RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
_RETRY_ATTEMPTS = 8


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure (the driver's error, or peewee's wrapper of it)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "sqlstate", None) in _RETRY_STATES:
            return True
        stack.extend([e.__cause__, e.__context__, *e.args[:1]])
    return False


def retry_on_conflict(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a function that is one write transaction again when PostgreSQL aborts it for a deadlock.

    Two writers that lock the same rows in different orders (an ingest batch
    and an operator's bulk action over thousands of addresses) can deadlock;
    PostgreSQL then aborts one of them, and the remedy is to run that
    transaction again, after the other committed.  Only the outermost
    transaction is retried: inside a caller's transaction the error goes up
    to the caller, whose whole transaction was aborted.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        attempt = 0
        while True:
            outermost = not database.in_transaction()
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                attempt += 1
                if not outermost or attempt >= _RETRY_ATTEMPTS or not _is_conflict(exc):
                    raise
                time.sleep(random.uniform(0.005, 0.02) * 2 ** attempt)

    return wrapper


def close_database() -> None:
    """Close the connection of this thread, if any."""
    if database.obj is not None and not database.is_closed():
        database.close()
