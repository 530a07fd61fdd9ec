"""Schema versions and the upgrade path.

A database records the version of the schema it holds.  Opening an older one
applies each missing step in order, inside a transaction; opening one written
by a newer bouncedesk is refused, because writing to it with an older schema
would lose or corrupt data the newer version relies on.

Step 1 does not assume an empty database: databases written before the
version table existed (or by development builds of version 1) hold some of
the tables with some of the columns.  It therefore *reconciles*: it creates
the missing tables, adds the missing columns (a required column gets its
default on existing rows) and creates the missing indexes, and never drops
anything, so no data an older build wrote is lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from peewee import SQL, Database, Field, OperationalError, ProgrammingError
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from models import search
from models.schema import ALL_MODELS, RECIPIENT_PHASES, BaseModel, SchemaVersion

log = logging.getLogger(__name__)

#: The version this code writes.  Add a step to ``STEPS`` when raising it.
SCHEMA_VERSION = 4


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer bouncedesk."""


class MigrationError(RuntimeError):
    """An older database cannot be brought up to date automatically."""


def _migrator(db: Database) -> SchemaMigrator:
    return SqliteMigrator(db) if db.__class__.__name__.startswith("Sqlite") else PostgresqlMigrator(db)


def missing_columns(db: Database, model: type[BaseModel]) -> list[Field]:
    """The model's fields that the existing table lacks (in model order)."""
    table = model._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    return [f for f in model._meta.sorted_fields if f.column_name not in have]


def _add_columns(db: Database, model: type[BaseModel]) -> None:
    """Add the table's missing columns; a NOT NULL one is filled with its default first.

    A required column without a default cannot be invented for existing rows:
    that is refused with the table and column named, and the transaction
    leaves the database as it was.
    """
    table = model._meta.table_name
    missing = missing_columns(db, model)
    for field in missing:
        if not field.null and field.default is None:
            raise MigrationError(
                f"cannot upgrade: table {table!r} lacks the required column {field.column_name!r} "
                "and it has no default to give existing rows")
    migrator = _migrator(db)
    sqlite = isinstance(migrator, SqliteMigrator)
    for field in missing:
        if sqlite and not field.null:
            # SQLite adds a NOT NULL column in place when it has a constant
            # DEFAULT; peewee's generic path would rebuild the table, and
            # dropping the old table with foreign keys on cascades deletes.
            value = field.default() if callable(field.default) else field.default
            clone = field.clone()
            clone.constraints = [*(clone.constraints or ()), SQL(f"DEFAULT {_literal(field.db_value(value))}")]
            migrate(migrator.alter_add_column(table, field.column_name, clone, allow_not_null=True))
        else:
            migrate(migrator.add_column(table, field.column_name, field))


def _literal(value: object) -> str:
    """``value`` as an SQL literal for a column DEFAULT (no parameters are allowed there)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _reconcile(db: Database) -> None:
    """Create missing tables, add missing columns, create missing indexes (never drop)."""
    for model in ALL_MODELS:
        if db.table_exists(model._meta.table_name):
            _add_columns(db, model)
        else:
            model._schema.create_table(safe=True)
    for model in ALL_MODELS:
        model._schema.create_indexes(safe=True)


#: The bounce-state columns version 1 kept in ``address`` (version 2: ``address_state``).
_V1_STATE_COLUMNS = {"status": "'active'", "bounce_count": "0", "blocked_reason": "NULL",
                     "blocked_category": "NULL", "blocked_at": "NULL", "blocked_cause": "NULL",
                     "global_block": "0"}


def _state_table(db: Database) -> None:
    """Version 2: the bounce state moves from ``address`` into its own table ``address_state``.

    Why: see ``models.schema.AddressState``.  The new tables and columns are
    created (``_reconcile``), every address whose state is not the default
    gets its row (a blocked one without a reason or time gets ``undefined``
    and the address's creation time: the new table requires both), then the
    old indexes and columns are dropped.  A database without the old columns
    (created by step 1 of this version) has nothing to move.
    """
    _reconcile(db)
    have = {c.name for c in db.get_columns("address")}
    old = [c for c in _V1_STATE_COLUMNS if c in have]
    if not old:
        return
    sqlite = db.__class__.__name__.startswith("Sqlite")
    false, true = ("0", "1") if sqlite else ("false", "true")

    def col(name: str) -> str:
        if name in have:
            return name
        return false if name == "global_block" else _V1_STATE_COLUMNS[name]

    flagged = (f"COALESCE({col('status')}, 'active') <> 'active' OR COALESCE({col('bounce_count')}, 0) <> 0 "
               f"OR COALESCE({col('global_block')}, {false}) = {true} OR {col('blocked_at')} IS NOT NULL "
               f"OR {col('blocked_reason')} IS NOT NULL")
    blocked = f"COALESCE({col('status')}, 'active') = 'blocked'"
    db.execute_sql(
        "INSERT INTO address_state (id, account_id, email, domain, status, bounce_count, blocked_reason, "
        "blocked_category, blocked_at, blocked_cause, global_block) "
        f"SELECT id, account_id, email, domain, COALESCE({col('status')}, 'active'), "
        f"COALESCE({col('bounce_count')}, 0), "
        f"CASE WHEN {blocked} THEN COALESCE({col('blocked_reason')}, 'undefined') ELSE {col('blocked_reason')} END, "
        f"{col('blocked_category')}, "
        f"CASE WHEN {blocked} THEN COALESCE({col('blocked_at')}, created_at, CURRENT_TIMESTAMP) "
        f"ELSE {col('blocked_at')} END, "
        f"{col('blocked_cause')}, COALESCE({col('global_block')}, {false}) "
        f"FROM address WHERE {flagged}")
    mentions = re.compile(r"\b(" + "|".join(old) + r")\b")
    for index in db.get_indexes("address"):
        if index.name.startswith("address_blocked_") or mentions.search(index.sql or "") or set(
                index.columns) & set(old):
            db.execute_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    for name in old:
        try:
            db.execute_sql(f'ALTER TABLE address DROP COLUMN "{name}"')
        except Exception as exc:  # noqa: BLE001 - e.g. a SQLite older than 3.35 has no DROP COLUMN
            raise MigrationError(f"cannot upgrade: dropping column address.{name} failed: {exc}") from exc


def _recipient_phase(db: Database) -> None:
    """Version 3: the recipient keyset indexes lead with ``(mailing, phase)`` instead of ``(mailing, status)``.

    Why: see ``models.schema.RECIPIENT_PHASES``.  The seven status-leading
    indexes are dropped first (``(mailing, status, id)`` stays), the column is
    added (every row ``sent``) and set for the rows of other phases, and only
    then are the new indexes built (``_reconcile``): the update moves as few
    index entries as it can.  On a million recipients this takes a minute or
    so, in the one transaction of the upgrade (other sessions wait).
    """
    for index in db.get_indexes("recipient"):
        if index.name.startswith("recipient_mailing_id_status_") and index.name != "recipient_mailing_id_status_id":
            db.execute_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    if "phase" not in {c.name for c in db.get_columns("recipient")}:
        db.execute_sql("ALTER TABLE recipient ADD COLUMN phase VARCHAR(255) NOT NULL DEFAULT 'sent'")
    db.execute_sql(f"UPDATE recipient SET phase = {_PHASE_SQL} WHERE phase <> {_PHASE_SQL}")
    _reconcile(db)


def _reported_indexes(db: Database) -> None:
    """Version 4: severity, category and reason sort through partial indexes of the reported recipients.

    Why: see ``models.schema.RECIPIENT_REPORTED_SORTS``.  The three full
    ``(mailing, phase, column, id)`` indexes are dropped; ``_reconcile``
    builds the three partial ones and the shared index of the recipients
    with nothing reported.  On a million recipients this took 3.7 s (SQLite,
    measured), in the one transaction of the upgrade; PostgreSQL's ``DROP
    INDEX`` locks the table for it (other sessions wait).
    """
    for column in ("severity", "category", "reason"):
        db.execute_sql(f'DROP INDEX IF EXISTS "recipient_mailing_id_phase_{column}_id"')
    _reconcile(db)


#: version -> step that brings a database from version-1 to version.
STEPS: dict[int, Callable[[Database], None]] = {
    1: _reconcile,
    2: _state_table,
    3: _recipient_phase,
    4: _reported_indexes,
}


def current_version(db: Database) -> int:
    """The schema version stored in ``db`` (0 for an empty or pre-versioning database)."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def _refuse_foreign(db: Database) -> None:
    """Refuse a database that holds another program's tables and none of ours.

    Without this, ``--db`` pointing at some other SQLite file (a typo, the
    wrong tab completion) would silently get bouncedesk's tables added to it.
    """
    ours = {model._meta.table_name for model in ALL_MODELS}
    tables = [t for t in db.get_tables() if not t.startswith("sqlite_")]
    if tables and not ours.intersection(tables):
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise MigrationError(f"not a bouncedesk database: it holds other tables ({shown}); "
                             "give bouncedesk an empty database of its own")


def upgrade(db: Database) -> int:
    """Bring ``db`` to ``SCHEMA_VERSION``; return the version found before."""
    found = current_version(db)
    if found == 0:
        _refuse_foreign(db)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"database schema version {found} is newer than this bouncedesk supports "
            f"({SCHEMA_VERSION}); upgrade bouncedesk"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            STEPS[version](db)
            SchemaVersion.create(version=version)
    # Derived objects outside the tables (text search indexes and their
    # triggers, the phase guard) are reconciled on every open: a database of
    # this version written before they existed gets them.
    search.install(db)
    _phase_guard(db)
    return found


#: The phase rule (``models.schema.RECIPIENT_PHASES``) as SQL, derived from it: one rule, not two.
_PHASE_SQL = ("CASE " + " ".join(f"WHEN status = '{status}' THEN '{phase}'"
                                 for status, phase in RECIPIENT_PHASES.items() if phase != status) + " ELSE status END")


def _phase_guard(db: Database) -> None:
    """Refuse, in the database itself, a recipient whose phase does not follow its status.

    Why: the recipient lists page through ``(mailing, phase, ...)`` indexes
    while their counts read the status, so a row written with a stale phase
    (raw SQL, or a process of a version before phases that kept running over
    the upgrade) would show in the wrong list without any error.  That is a
    team's risk, on PostgreSQL, which gets a CHECK constraint, validated once
    over the rows it has.  SQLite is left without: a table constraint cannot
    be added to an existing SQLite table, and the triggers that could stand
    in for it made an ingest of fresh deliveries 6-15% slower (measured).
    """
    if db.__class__.__name__.startswith("Sqlite"):
        return
    present = ("SELECT 1 FROM pg_constraint WHERE conname = 'recipient_phase_follows_status' "
               "AND conrelid = 'recipient'::regclass")
    if db.execute_sql(present).fetchone():
        return
    try:
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (0xB0_0CE_0003,))  # two sessions opening at once
            if db.execute_sql(present).fetchone():
                return
            # The phase is derived from the status: a row some older writer left stale is put right first,
            # so that the constraint can be added (and nobody is locked out by one bad row).
            db.execute_sql(f"UPDATE recipient SET phase = {_PHASE_SQL} WHERE phase IS DISTINCT FROM {_PHASE_SQL}")
            db.execute_sql("ALTER TABLE recipient ADD CONSTRAINT recipient_phase_follows_status "
                           f"CHECK (phase = {_PHASE_SQL})")
    except (ProgrammingError, OperationalError) as exc:  # e.g. a role that does not own the table
        log.warning("recipient phase guard not added: %s", str(exc).splitlines()[0])
