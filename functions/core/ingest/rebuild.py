"""The bulk way to publish (publish.py decides when): the catalogue built anew beside the one
readers see, then swapped for it, in the publishing transaction.

Maintaining a dozen indexes row by row is what a large load into a small catalogue spends its
time on; building each index once over sorted rows costs several times less (pgloader's
approach). Here, in the caller's transaction, which holds PUBLISH_LOCK:

1. `movies` is locked against writes (SHARE: readers go on) and a table `movies_next` made
   like it, without indexes, its id sequence continuing `movies`' (ids are never reused);
2. the rows of `movies` are copied into it, and the change set applied to it (`apply`);
3. every constraint and index of `movies` is built on it, as `movies` has them (read from the
   catalog, so a later migration's index is rebuilt too), then it is analysed;
4. the swap: `movies` locked exclusively (readers wait from here to the commit, the time of a
   few catalog updates), dropped, and `movies_next` with its sequence, constraints and indexes
   renamed to the names of the old ones. The lock is asked for in short tries: while another
   upload's transaction holds `movies`, readers are not left queued behind the request.

Readers never see a catalogue without its indexes or half published: until the commit, the old
table; after it, the new one complete. A crash anywhere rolls all of it back. On a streaming
replica the swap's exclusive lock cancels queries that hold `movies` longer than
max_standby_streaming_delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from functions.core.catalogue.columns import MOVIE_COLUMNS

NEXT = "movies_next"
# the columns a copy carries (release_year is generated again)
_STORED = ("id", *MOVIE_COLUMNS, "last_upload_id", "created_at", "updated_at")

_CONSTRAINTS = """
    SELECT conname, pg_get_constraintdef(oid)
      FROM pg_constraint
     WHERE conrelid = 'movies'::regclass AND contype IN ('p', 'u')
     ORDER BY contype DESC, conname
"""
_INDEXES = """
    SELECT i.relname, pg_get_indexdef(i.oid)
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = 'movies'::regclass
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
     ORDER BY i.relname
"""
_STATISTICS_TARGETS = """
    SELECT attname, attstattarget FROM pg_attribute
     WHERE attrelid = 'movies'::regclass AND attnum > 0 AND NOT attisdropped
       AND attstattarget >= 0
"""


def movie_indexes(conn: psycopg.Connection | psycopg.Cursor) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index of `movies` but its constraints'."""
    return [(name, definition) for name, definition in conn.execute(_INDEXES).fetchall()]


def _next_name(name: str) -> str:
    return f"{name}_next"


def _index_on_next(name: str, definition: str) -> sql.Composed:
    """`CREATE INDEX <name>_next ON movies_next ...` from `pg_get_indexdef` of one of movies'."""
    _, using = definition.split(" USING ", 1)
    unique = "UNIQUE " if definition.startswith("CREATE UNIQUE ") else ""
    return sql.SQL("CREATE {unique}INDEX {name} ON {table} USING {using}").format(
        unique=sql.SQL(unique),
        name=sql.Identifier(_next_name(name)),
        table=sql.Identifier(NEXT),
        using=sql.SQL(using),
    )


# How long one try at the swap's lock waits. A reader that arrives while the lock is asked for
# queues behind it; an upload validating beside the publish holds `movies` (shared) while it
# computes its change set, seconds for a large file: the lock is asked for in short tries, and
# readers go on between them.
SWAP_LOCK_TRY = "200ms"
SWAP_LOCK_PAUSE_SECONDS = 0.05


def _lock_for_swap(cur: psycopg.Cursor) -> None:
    """ACCESS EXCLUSIVE on `movies`, in tries of SWAP_LOCK_TRY (each in a savepoint, so one
    that times out leaves the transaction as it was)."""
    while True:
        try:
            with cur.connection.transaction():
                cur.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(SWAP_LOCK_TRY))
                )
                cur.execute("LOCK TABLE movies IN ACCESS EXCLUSIVE MODE")
        except psycopg.errors.LockNotAvailable:
            time.sleep(SWAP_LOCK_PAUSE_SECONDS)
            continue
        cur.execute("SET LOCAL lock_timeout = DEFAULT")
        return


def rebuild(cur: psycopg.Cursor, apply: Callable[[sql.Identifier], int]) -> None:
    """Build the catalogue anew with `apply(table)` (the change set applied to the copy) and
    swap it for `movies`, in the caller's transaction (see the module's docstring)."""
    next_table = sql.Identifier(NEXT)
    columns = sql.SQL(", ").join(map(sql.Identifier, _STORED))
    cur.execute("LOCK TABLE movies IN SHARE MODE")  # no write from here on; readers go on
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # each index sorted in memory
    cur.execute(
        sql.SQL(
            "CREATE TABLE {next} (LIKE movies INCLUDING DEFAULTS INCLUDING IDENTITY"
            " INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)"
        ).format(next=next_table)
    )
    for column, target in cur.execute(_STATISTICS_TARGETS).fetchall():
        cur.execute(
            sql.SQL("ALTER TABLE {next} ALTER COLUMN {column} SET STATISTICS {target}").format(
                next=next_table, column=sql.Identifier(column), target=sql.Literal(target)
            )
        )
    cur.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({next}, 'id'), last_value, is_called)"
            " FROM movies_id_seq"
        ).format(next=sql.Literal(NEXT))
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {next} ({columns}) OVERRIDING SYSTEM VALUE"
            " SELECT {columns} FROM movies ORDER BY id"
        ).format(next=next_table, columns=columns)
    )
    apply(next_table)

    constraints = cur.execute(_CONSTRAINTS).fetchall()
    indexes = movie_indexes(cur)
    for name, definition in constraints:
        # the primary and unique keys build their index now. `movies` has no foreign key
        # (migration 0009): adding one here would lock the table it references until the swap
        cur.execute(
            sql.SQL("ALTER TABLE {next} ADD CONSTRAINT {name} {definition}").format(
                next=next_table,
                name=sql.Identifier(_next_name(name)),
                definition=sql.SQL(definition),
            )
        )
    for name, definition in indexes:
        cur.execute(_index_on_next(name, definition))
    cur.execute(sql.SQL("ANALYZE {next}").format(next=next_table))

    # the swap: readers wait from here to the commit
    _lock_for_swap(cur)
    cur.execute("DROP TABLE movies")
    cur.execute(sql.SQL("ALTER TABLE {next} RENAME TO movies").format(next=next_table))
    cur.execute(
        sql.SQL("ALTER SEQUENCE {sequence} RENAME TO movies_id_seq").format(
            sequence=sql.Identifier(f"{NEXT}_id_seq")
        )
    )
    for name, _ in constraints:
        cur.execute(
            sql.SQL("ALTER TABLE movies RENAME CONSTRAINT {old} TO {new}").format(
                old=sql.Identifier(_next_name(name)), new=sql.Identifier(name)
            )
        )
    for name, _ in indexes:
        cur.execute(
            sql.SQL("ALTER INDEX {old} RENAME TO {new}").format(
                old=sql.Identifier(_next_name(name)), new=sql.Identifier(name)
            )
        )
