"""Text search (``/``): trigram indexes so a substring search is a lookup, not a scan.

The screens search a case-insensitive substring of a recipient's address,
name or company, or of an address (``models.filters.contains``).  Without an
index that reads every row of the filter: up to 10 s at a million recipients
for a text that matches nothing.

* SQLite: an FTS5 table with the ``trigram`` tokenizer (SQLite >= 3.34) per
  searched table, external-content (the text stays in the table, the index
  holds only trigrams), kept in sync by triggers that fire only on the
  searched columns, so the status updates of ingestion pay nothing.  A query
  for every trigram of the term yields the rows holding them all: a superset
  of the substring matches (the index also folds case more widely than
  ``lower()``), so the substring condition is always re-checked.
* PostgreSQL: ``pg_trgm`` GIN indexes on ``lower(column)``, which serve the
  same ``lower(column) LIKE '%term%'`` condition directly (``candidates``
  makes the planner use them for a selective term).  If the role may not create
  the extension the search stays a scan, with one warning in the log.

Terms shorter than three characters have no trigram: they are always a scan.
"""

from __future__ import annotations

import logging

from peewee import SQL, Database, Node, NodeList

log = logging.getLogger(__name__)

#: searched table -> (FTS5 table, searched columns)
SEARCHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "recipient": ("recipient_search", ("email", "name", "company")),
    "address": ("address_search", ("email",)),
}

#: The shortest term a trigram index can serve.
MIN_TERM = 3


def _is_sqlite(db: Database) -> bool:
    return db.__class__.__name__.startswith("Sqlite")


def _sqlite_objects(table: str) -> list[str]:
    """The FTS5 table's triggers (created with IF NOT EXISTS; the table itself separately)."""
    fts, cols = SEARCHED[table]
    names = ", ".join(cols)
    new = ", ".join(f"new.{c}" for c in cols)
    old = ", ".join(f"old.{c}" for c in cols)
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    return [
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN {delete} {insert} END",
    ]


def install(db: Database) -> None:
    """Create the missing search indexes of ``db`` (idempotent; cheap when they exist).

    Called on every migrating open, so databases written before the search
    indexes existed get them: a new SQLite FTS table is filled once from its
    table (``'rebuild'``).  Never fails the open for want of the index: a
    SQLite without FTS5 trigram, or a PostgreSQL role that may not create
    ``pg_trgm``, keeps the (correct, slower) scan with a warning.
    """
    if _is_sqlite(db):
        for table, (fts, cols) in SEARCHED.items():
            try:
                with db.atomic():
                    fresh = not db.table_exists(fts)
                    if fresh:
                        db.execute_sql(
                            f"CREATE VIRTUAL TABLE {fts} USING fts5({', '.join(cols)}, content='{table}',"
                            " content_rowid='id', tokenize='trigram', detail='none')")
                    for sql in _sqlite_objects(table):
                        db.execute_sql(sql)
                    if fresh:
                        db.execute_sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
            except Exception as exc:  # noqa: BLE001 - an old SQLite lacks fts5/trigram: search scans
                log.warning("text search index %s not created (search will scan): %s", fts, exc)
                return
        return
    try:
        with db.atomic():
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - e.g. the role may not create extensions
        log.warning("text search: pg_trgm unavailable, search will scan: %s", str(exc).splitlines()[0])
        return
    for table, (_fts, cols) in SEARCHED.items():
        for col in cols:
            db.execute_sql(f"CREATE INDEX IF NOT EXISTS {table}_{col}_trgm ON {table} "
                           f"USING gin (lower({col}) gin_trgm_ops)")


def has_index(db: Database, table: str) -> bool:
    """True when ``table``'s search index exists (SQLite: its FTS table; PostgreSQL: its trigram indexes)."""
    if table not in SEARCHED:
        return False
    if _is_sqlite(db):
        return db.table_exists(SEARCHED[table][0])
    col = SEARCHED[table][1][-1]
    found = db.execute_sql("SELECT 1 FROM pg_indexes WHERE indexname = %s", (f"{table}_{col}_trgm",))
    return found.fetchone() is not None


def _pg_matches(table: str, term: str) -> Node:
    """PostgreSQL: the substring condition on ``table``'s searched columns, which its GIN indexes serve."""
    from models.filters import contains

    cols = [SQL(f'"{table}"."{c}"') for c in SEARCHED[table][1]]
    cond = contains(cols[0], term)
    for col in cols[1:]:
        cond = cond | contains(col, term)
    return cond


def indexable(term: str | None) -> bool:
    """True when a trigram index can find ``term`` (three characters or more)."""
    return term is not None and len(term) >= MIN_TERM


def phrase(term: str) -> str:
    """The FTS5 query for ``term``: trigrams covering it side by side, each quoted (quotes doubled).

    The index is ``detail='none'`` (a third of the size of a positional one
    and faster to write), which has no phrase queries: the rows holding all of
    the term's trigrams are a superset of the rows containing the term, and
    the caller re-checks the substring.  Side by side rather than every
    overlapping trigram: each trigram costs a read of its whole posting list
    (``l.c`` is in 115,000 of a million recipients), and a third of them
    still cover every character of the term.
    """
    starts = list(range(0, len(term) - MIN_TERM + 1, MIN_TERM))
    if starts[-1] != len(term) - MIN_TERM:
        starts.append(len(term) - MIN_TERM)
    grams = dict.fromkeys(term[i:i + MIN_TERM] for i in starts)
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def candidates(db: Database, idf: Node, table: str, term: str, within: tuple[Node, Node] | None = None) -> Node:
    """The condition "``idf`` is one of the rows of ``table`` the index proposes for ``term``" (a superset).

    ``within`` (SQLite): the lowest and highest id the filter can hold (a
    mailing's recipients, inserted together, have neighbouring ids).  The index then
    reads only that stretch of each trigram's rows: "hansen" proposes 16,000
    of a million recipients but 632 of a 39,000-recipient mailing, which are
    read in 0.7 ms instead of 5.6 ms, and only those 632 rows are then read.

    PostgreSQL: ``= ANY(ARRAY(subquery))`` is computed once, through the GIN
    indexes, before the rows are read by primary key; an ``IN (subquery)``
    would be flattened into a join the planner may drive from a keyset index
    walk (83 ms for a term matching nothing in 300k rows, measured).
    """
    if _is_sqlite(db):
        fts = SEARCHED[table][0]
        parts: list[Node] = [idf, SQL(f"IN (SELECT rowid FROM {fts} WHERE {fts} MATCH"), phrase(term)]
        if within is not None:
            parts += [SQL("AND rowid BETWEEN"), within[0], SQL("AND"), within[1]]
        return NodeList((*parts, SQL(")")))
    # PostgreSQL: no range; its planner cannot see the subqueries' values and might walk the primary
    # key over the guessed-small range instead of using the GIN indexes (not measured, so not risked)
    return NodeList((idf, SQL(f'= ANY(ARRAY(SELECT "{table}"."id" FROM "{table}" WHERE'),
                     _pg_matches(table, term), SQL("))")))


def candidate_count(db: Database, table: str, term: str, cap: int, within: tuple[int, int] | None = None) -> int:
    """How many rows of ``table`` (with ids in ``within``) the index proposes for ``term``, up to ``cap + 1``."""
    if _is_sqlite(db):
        fts = SEARCHED[table][0]
        if within is None:
            sql = f"SELECT count(*) FROM (SELECT rowid FROM {fts} WHERE {fts} MATCH ? LIMIT ?)"
            return db.execute_sql(sql, (phrase(term), cap + 1)).fetchone()[0]
        sql = f"SELECT count(*) FROM (SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid BETWEEN ? AND ? LIMIT ?)"
        return db.execute_sql(sql, (phrase(term), *within, cap + 1)).fetchone()[0]
    cond = _pg_matches(table, term)  # PostgreSQL counts over the whole table, as ``candidates`` reads it
    inner = NodeList((SQL(f'SELECT count(*) FROM (SELECT 1 FROM "{table}" WHERE'), cond,
                      SQL("LIMIT"), cap + 1, SQL(") AS c")))
    sql, params = db.get_sql_context().sql(inner).query()
    return db.execute_sql(sql, params).fetchone()[0]
