"""Schema versions and the upgrade path.

A database records the version of the schema it holds.  Opening an older one
applies each missing step in order, inside a transaction; opening one written
by a newer bouncedesk is refused, because writing to it with an older schema
would lose or corrupt data the newer version relies on.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from models.schema import ALL_MODELS, SchemaVersion

#: The version this code writes.  Add a step to ``STEPS`` when raising it.
SCHEMA_VERSION = 1


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer bouncedesk."""


def _create_all(db: Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)


#: version -> step that brings a database from version-1 to version.
STEPS: dict[int, Callable[[Database], None]] = {
    1: _create_all,
}


def current_version(db: Database) -> int:
    """The schema version stored in ``db`` (0 for an empty database)."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def upgrade(db: Database) -> int:
    """Bring ``db`` to ``SCHEMA_VERSION``; return the version found before."""
    found = current_version(db)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema version {found} is newer than this bouncedesk supports "
            f"({SCHEMA_VERSION}); upgrade bouncedesk"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            STEPS[version](db)
            SchemaVersion.create(version=version)
    return found
