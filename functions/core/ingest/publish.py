"""Publishing and reverting: the only writes to `movies`, and the one owner of `movie_changes`.

`publish` applies an upload's staged change set (functions/core/ingest/staging.py) to the
catalogue in the caller's transaction: the movies it updates get the file's values (their
values before are kept in `movie_changes`), the movies it inserts are created (their ids kept).
`revert` undoes a completed upload from that history: the movies it inserted are removed, the
ones it updated get back the values they had, unless a later upload changed one of them since
(`RevertConflict`, naming those uploads). Both advance the catalogue's version. Callers hold
`PUBLISH_LOCK`: publishes and reverts run one at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from functions.core.catalogue.columns import MOVIE_COLUMNS
from functions.core.catalogue.version import advance_catalogue_version
from functions.core.errors import MovieDbError
from functions.core.ingest.staging import VALUE_COLUMNS, changes_table, cols, json_pairs

# Publishes and reverts take this transaction-level advisory lock: one at a time, so two
# change sets never interleave (and never deadlock on the same movies).
PUBLISH_LOCK = 0x6D6F7669  # "movi"


@dataclass
class RevertConflict(MovieDbError):
    """Later completed uploads changed movies this upload changed: revert those first."""

    upload_id: str
    later_uploads: list[str]

    def __str__(self) -> str:
        return (
            f"upload {self.upload_id} cannot be reverted: later uploads changed the same movies "
            f"({', '.join(self.later_uploads)}); revert them first"
        )


@dataclass
class RevertUnavailable(MovieDbError):
    """The history of what the upload changed is gone (older than MOVIEDB_HISTORY_DAYS)."""

    upload_id: str

    def __str__(self) -> str:
        return (
            f"upload {self.upload_id} cannot be reverted: the record of what it changed has "
            "passed its retention (MOVIEDB_HISTORY_DAYS)"
        )


_KEEP_BEFORE = """
    INSERT INTO movie_changes (upload_id, movie_id, change, title, release_date,
                               original_language, before, after)
    SELECT %(upload_id)s, m.id, 'updated', m.title, m.release_date, m.original_language,
           jsonb_build_object({m_pairs}, 'last_upload_id', m.last_upload_id),
           jsonb_build_object({c_pairs})
      FROM {changes} c JOIN movies m ON m.id = c.movie_id
     WHERE c.change = 'updated'
"""

_UPDATE = """
    UPDATE movies m
       SET ({values}, last_upload_id, updated_at) = ROW({c_values}, %(upload_id)s::uuid, now())
      FROM {changes} c
     WHERE c.change = 'updated' AND m.id = c.movie_id
"""

_INSERT = """
    WITH inserted AS (
        INSERT INTO movies ({all}, last_upload_id)
        SELECT {all}, %(upload_id)s::uuid FROM {changes} WHERE change = 'inserted' ORDER BY line
        RETURNING id, title, release_date, original_language
    )
    INSERT INTO movie_changes (upload_id, movie_id, change, title, release_date,
                               original_language)
    SELECT %(upload_id)s, id, 'inserted', title, release_date, original_language FROM inserted
"""


def publish(cur: psycopg.Cursor, upload_id: uuid.UUID) -> int:
    """Apply the upload's change set to `movies` and keep its history; the new catalogue
    version. The caller holds PUBLISH_LOCK and commits (or rolls back) with the upload's
    completion."""
    changes = changes_table(upload_id)
    params = {"upload_id": upload_id}
    cur.execute("DELETE FROM movie_changes WHERE upload_id = %s", (upload_id,))  # a rerun's
    cur.execute(
        sql.SQL(_KEEP_BEFORE).format(
            changes=changes,
            m_pairs=json_pairs("m"),
            c_pairs=json_pairs("c"),
        ),
        params,
    )
    cur.execute(
        sql.SQL(_UPDATE).format(
            changes=changes, values=cols(VALUE_COLUMNS), c_values=cols(VALUE_COLUMNS, "c.")
        ),
        params,
    )
    cur.execute(sql.SQL(_INSERT).format(changes=changes, all=cols(MOVIE_COLUMNS)), params)
    return advance_catalogue_version(cur.connection)


@dataclass(frozen=True)
class Undone:
    removed: int  # movies the upload had inserted
    restored: int  # movies the upload had updated, back to their values before


def revert(cur: psycopg.Cursor, upload_id: uuid.UUID, *, changed_anything: bool) -> Undone:
    """Undo a completed upload's change set (caller holds PUBLISH_LOCK, in one transaction).
    Raises RevertConflict when a later upload changed one of its movies, RevertUnavailable
    when its history is gone (pruned whole, never in part); nothing changes then."""
    kept = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM movie_changes WHERE upload_id = %s)", (upload_id,)
    ).fetchone()
    if changed_anything and not (kept and kept[0]):
        raise RevertUnavailable(str(upload_id))
    later = cur.execute(
        """
        SELECT DISTINCT m.last_upload_id::text
          FROM movie_changes c JOIN movies m ON m.id = c.movie_id
         WHERE c.upload_id = %(u)s AND m.last_upload_id IS DISTINCT FROM %(u)s
        """,
        {"u": upload_id},
    ).fetchall()
    if later:
        raise RevertConflict(str(upload_id), sorted(str(u) for (u,) in later))
    removed = cur.execute(
        "DELETE FROM movies m USING movie_changes c"
        " WHERE c.upload_id = %s AND c.change = 'inserted' AND m.id = c.movie_id",
        (upload_id,),
    ).rowcount
    restored = cur.execute(
        sql.SQL(
            """
            UPDATE movies m
               SET ({values}, last_upload_id, updated_at)
                 = (SELECT {values}, last_upload_id, now()
                      FROM jsonb_populate_record(NULL::movies, c.before))
              FROM movie_changes c
             WHERE c.upload_id = %s AND c.change = 'updated' AND m.id = c.movie_id
            """
        ).format(values=cols(VALUE_COLUMNS)),
        (upload_id,),
    ).rowcount
    advance_catalogue_version(cur.connection)
    return Undone(removed=removed, restored=restored)


def published_changes(
    conn: psycopg.Connection, upload_id: uuid.UUID | str, change: str, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of what a completed (or reverted) upload changed, from its history, and the
    exact total: natural key, movie id, values before and after (updated movies)."""
    page = conn.execute(
        "SELECT title, release_date, original_language, movie_id, before, after"
        " FROM movie_changes WHERE upload_id = %s AND change = %s"
        " ORDER BY movie_id LIMIT %s OFFSET %s",
        (str(upload_id), change, limit, offset),
    ).fetchall()
    total = conn.execute(
        "SELECT count(*) FROM movie_changes WHERE upload_id = %s AND change = %s",
        (str(upload_id), change),
    ).fetchone()
    items = [
        {
            "title": title,
            "release_date": release_date,
            "original_language": language,
            "movie_id": movie_id,
            "before": before,
            "after": after,
        }
        for title, release_date, language, movie_id, before, after in page
    ]
    return items, int(total[0]) if total else 0


def prune_history(conn: psycopg.Connection, *, older_than: timedelta) -> int:
    """Forget what uploads published before `now - older_than` changed (they can no longer be
    reverted); the number of rows removed."""
    cutoff: datetime = conn.execute("SELECT now() - %s::interval", (older_than,)).fetchone()[0]  # type: ignore[index]
    return conn.execute(
        "DELETE FROM movie_changes c USING uploads u"
        " WHERE c.upload_id = u.id AND u.published_at < %s",
        (cutoff,),
    ).rowcount
