"""Per-upload staging in PostgreSQL: the one owner of the tables of schema `staging`.

Each upload being processed or awaiting review has two tables of its own:
- `staging.rows_<id>`: every accepted record of the file, with its line (COPYed as parsed);
- `staging.changes_<id>`: the change set, one row per natural key of the file (its last
  occurrence), with the id of the movie of that key and what the publish does with it
  (`change`: inserted, updated, or unchanged, left as it is), and what the counts need.
They are created in the processing transaction (a crash drops them with it), kept while the
upload waits for review, computed again at publish when the catalogue changed meanwhile, and
dropped by the publish or a cancel.

Counting follows the file, whatever the change set: a key's first occurrence is compared with
the movie as the catalogue has it, every later occurrence with the one before it; each record
received is exactly one of inserted / updated / unchanged / rejected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from functions.core.catalogue.columns import MOVIE_COLUMNS, NATURAL_KEY
from functions.core.uploads.records import uploads_that_stage

VALUE_COLUMNS = tuple(c for c in MOVIE_COLUMNS if c not in NATURAL_KEY)
SCHEMA = "staging"
CHANGES = ("inserted", "updated")


def rows_table(upload_id: uuid.UUID | str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, f"rows_{uuid.UUID(str(upload_id)).hex}")


def changes_table(upload_id: uuid.UUID | str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, f"changes_{uuid.UUID(str(upload_id)).hex}")


def cols(names: Iterable[str], prefix: str = "") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(n) for n in names)


def _same_key(left: str, right: str) -> sql.Composable:
    """`left` and `right` have the same natural key (NULLs equal, as the unique key has it)."""
    return sql.SQL(" AND ").join(
        sql.SQL("{l}.{c} IS NOT DISTINCT FROM {r}.{c}").format(
            l=sql.Identifier(left), r=sql.Identifier(right), c=sql.Identifier(c)
        )
        if c != "title"
        else sql.SQL("{l}.title = {r}.title").format(
            l=sql.Identifier(left), r=sql.Identifier(right)
        )
        for c in NATURAL_KEY
    )


_ROWS_DDL = """
    CREATE TABLE {rows} (
        line bigint NOT NULL,
        title text, original_title text, original_language text, overview text,
        release_date date, budget bigint, revenue bigint, runtime integer, status text,
        vote_average real, vote_count integer, production_company_id bigint, genre_id bigint,
        homepage text, languages text[]
    )
"""

# The change set and what counting needs, in one pass over the rows sorted by key and line:
# one row per natural key, its last occurrence in the file, against the catalogue's movie of
# that key (`change`: inserted, updated or unchanged), with how often the key occurs, the line
# of its first occurrence and how many of its later occurrences differ from the one before.
_CHANGES = """
    CREATE TABLE {changes} AS
    SELECT {l_all}, l.occurrences, l.first_line, l.later_changes, m.id AS movie_id,
           CASE WHEN m.id IS NULL THEN 'inserted'
                WHEN ROW({l_values}) IS DISTINCT FROM ROW({m_values}) THEN 'updated'
                ELSE 'unchanged' END AS change
      FROM (
            SELECT f.*, count(*) FILTER (WHERE f.differs_from_previous) OVER w AS later_changes
              FROM (
                    SELECT r.*,
                           lead(line) OVER w IS NULL AS is_last,
                           count(*) OVER w AS occurrences,
                           first_value(line) OVER w AS first_line,
                           lag(line) OVER w IS NOT NULL
                               AND ROW({values}) IS DISTINCT FROM lag(ROW({values})) OVER w
                               AS differs_from_previous
                      FROM {rows} r
                    WINDOW w AS (PARTITION BY {key} ORDER BY line)
                   ) f
            WINDOW w AS (PARTITION BY {key} ORDER BY line)
           ) l
      LEFT JOIN movies m ON {same_key}
     WHERE l.is_last
"""

# The counts, in file order (see the module's docstring), from the change set: a key's first
# occurrence is inserted (no movie), or compared with its movie (the key's one row, when the key
# occurs once); each later occurrence is updated when it differs from the one before.
_COUNTS = """
    SELECT coalesce(sum(occurrences), 0),
           count(*) FILTER (WHERE movie_id IS NULL),
           coalesce(sum(later_changes), 0)
               + count(*) FILTER (WHERE occurrences = 1 AND change = 'updated'),
           coalesce(sum(occurrences - 1 - later_changes), 0)
               + count(*) FILTER (WHERE occurrences = 1 AND change = 'unchanged'),
           count(*) FILTER (WHERE occurrences > 1 AND movie_id IS NOT NULL)
      FROM {changes}
"""

# The first occurrences of keys that occur more than once, of movies in the catalogue: how many
# differ from their movie (rare: only when the file repeats a key the catalogue has).
_REPEATED_FIRSTS = """
    SELECT count(*) FILTER (WHERE ROW({r_values}) IS DISTINCT FROM ROW({m_values})),
           count(*) FILTER (WHERE ROW({r_values}) IS NOT DISTINCT FROM ROW({m_values}))
      FROM {changes} c
      JOIN {rows} r ON r.line = c.first_line
      JOIN movies m ON m.id = c.movie_id
     WHERE c.occurrences > 1 AND c.movie_id IS NOT NULL
"""


@dataclass(frozen=True)
class StagedCounts:
    """What the publish of the staged rows does: records inserted / updated / unchanged."""

    received: int
    inserted: int
    updated: int
    unchanged: int


def create_rows(cur: psycopg.Cursor, upload_id: uuid.UUID) -> None:
    """A new, empty rows table for the upload (a leftover of an earlier attempt is dropped)."""
    drop(cur, upload_id)
    cur.execute(sql.SQL(_ROWS_DDL).format(rows=rows_table(upload_id)))


def copy_rows(
    cur: psycopg.Cursor, upload_id: uuid.UUID, chunks: Iterable[list[list[object]] | bytes]
) -> None:
    """Append parsed rows ([line, *MOVIE_COLUMNS values as PostgreSQL text]), chunk after
    chunk: a list of rows, or the same rows as COPY text."""
    statement = sql.SQL("COPY {rows} ({columns}) FROM STDIN").format(
        rows=rows_table(upload_id), columns=cols(("line", *MOVIE_COLUMNS))
    )
    with cur.copy(statement) as copy:
        for chunk in chunks:
            if isinstance(chunk, bytes):
                copy.write(chunk)
            else:
                for row in chunk:
                    copy.write_row(row)


def compute_changes(cur: psycopg.Cursor, upload_id: uuid.UUID) -> StagedCounts:
    """(Re)build the upload's change set against the catalogue as this transaction sees it,
    and count what its publish does."""
    rows, changes = rows_table(upload_id), changes_table(upload_id)
    cur.execute(sql.SQL("ANALYZE {rows}").format(rows=rows))  # fresh statistics for the plans
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {changes}").format(changes=changes))
    cur.execute(
        sql.SQL(_CHANGES).format(
            changes=changes,
            rows=rows,
            key=cols(NATURAL_KEY),
            values=cols(VALUE_COLUMNS),
            same_key=_same_key("l", "m"),
            l_all=cols(("line", *MOVIE_COLUMNS), "l."),
            l_values=cols(VALUE_COLUMNS, "l."),
            m_values=cols(VALUE_COLUMNS, "m."),
        )
    )
    row = cur.execute(sql.SQL(_COUNTS).format(changes=changes)).fetchone()
    received, inserted, updated, unchanged, repeated = row  # type: ignore[misc]
    if repeated:
        differ, same = cur.execute(  # type: ignore[misc]
            sql.SQL(_REPEATED_FIRSTS).format(
                changes=changes,
                rows=rows,
                r_values=cols(VALUE_COLUMNS, "r."),
                m_values=cols(VALUE_COLUMNS, "m."),
            )
        ).fetchone()
        updated, unchanged = updated + differ, unchanged + same
    return StagedCounts(int(received), int(inserted), int(updated), int(unchanged))


def drop(cur: psycopg.Cursor, upload_id: uuid.UUID | str) -> None:
    """Drop the upload's staging tables (when there are any)."""
    for table in (rows_table(upload_id), changes_table(upload_id)):
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {table}").format(table=table))


def has_change_set(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> bool:
    name = f"{SCHEMA}.changes_{uuid.UUID(str(upload_id)).hex}"
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def staged_changes(
    conn: psycopg.Connection, upload_id: uuid.UUID | str, change: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of a staged change set (`change`: inserted or updated), in file order, and the
    exact total: natural key, movie id (updated), values before (the catalogue's now) and
    after (the file's)."""
    changes = changes_table(upload_id)
    page = conn.execute(
        sql.SQL(
            """
            SELECT c.title, c.release_date, c.original_language, c.movie_id,
                   CASE WHEN m.id IS NULL THEN NULL ELSE jsonb_build_object({m_pairs}) END,
                   jsonb_build_object({c_pairs})
              FROM {changes} c LEFT JOIN movies m ON m.id = c.movie_id
             WHERE c.change = %s ORDER BY c.line LIMIT %s OFFSET %s
            """
        ).format(
            changes=changes,
            m_pairs=json_pairs("m"),
            c_pairs=json_pairs("c"),
        ),
        (change, limit, offset),
    ).fetchall()
    total = conn.execute(
        sql.SQL("SELECT count(*) FROM {changes} WHERE change = %s").format(changes=changes),
        (change,),
    ).fetchone()
    return [_change_item(row) for row in page], int(total[0]) if total else 0


def json_pairs(alias: str, columns: Iterable[str] = VALUE_COLUMNS) -> sql.Composable:
    """`'column', alias.column, ...` for jsonb_build_object: the row's values by name."""
    return sql.SQL(", ").join(
        sql.SQL("{name}, {alias}.{column}").format(
            name=sql.Literal(c), alias=sql.Identifier(alias), column=sql.Identifier(c)
        )
        for c in columns
    )


def _change_item(row: tuple[Any, ...]) -> dict[str, Any]:
    title, release_date, language, movie_id, before, after = row
    return {
        "title": title,
        "release_date": release_date,
        "original_language": language,
        "movie_id": movie_id,
        "before": before,
        "after": after,
    }


def drop_orphans(conn: psycopg.Connection) -> list[uuid.UUID]:
    """Drop the staging tables of uploads that no longer need them: gone, or in a status that
    never publishes them (failed, cancelled, completed, reverted). Those of uploads being
    processed, awaiting review or publishing are kept. Returns the uploads tidied."""
    names = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (SCHEMA,)
    ).fetchall()
    ids = {uuid.UUID(name.split("_", 1)[1]) for (name,) in names if "_" in name}
    if not ids:
        return []
    orphans = sorted(ids - uploads_that_stage(conn, ids))
    for upload_id in orphans:
        with conn.transaction(), conn.cursor() as cur:
            drop(cur, upload_id)
    return orphans
