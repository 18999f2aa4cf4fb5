"""Publishing and reverting: the only writes to `movies`, and the one owner of `movie_changes`.

`publish` applies an upload's staged change set (functions/core/ingest/staging.py) to the
catalogue in the caller's transaction: the movies it updates get the file's values (their
values before are kept in `movie_changes`), the movies it inserts are created (their ids kept).
A publish that inserts many movies against the catalogue's size (a new deployment's first
load above all) takes the other way, `rebuild`: the catalogue is built anew beside the one
readers see (its rows, then the change set, then every index and constraint, built in bulk),
and swapped for it at the end of the same transaction. Readers keep the old catalogue and its
indexes until the commit, then see the new one whole; they wait only for the swap itself.

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
from functions.core.config import get_settings
from functions.core.errors import MovieDbError
from functions.core.ingest.rebuild import rebuild
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
      FROM {changes} c JOIN {movies} m ON m.id = c.movie_id
     WHERE c.change = 'updated'
"""

_UPDATE = """
    UPDATE {movies} m
       SET ({values}, last_upload_id, updated_at) = ROW({c_values}, %(upload_id)s::uuid, now())
      FROM {changes} c
     WHERE c.change = 'updated' AND m.id = c.movie_id
"""

_INSERT = """
    WITH inserted AS (
        INSERT INTO {movies} ({all}, last_upload_id)
        SELECT {all}, %(upload_id)s::uuid FROM {changes} WHERE change = 'inserted' ORDER BY line
        RETURNING id, title, release_date, original_language
    )
    INSERT INTO movie_changes (upload_id, movie_id, change, title, release_date,
                               original_language)
    SELECT %(upload_id)s, id, 'inserted', title, release_date, original_language FROM inserted
"""


# A change of at least this share of the catalogue analyses `movies` in the same transaction
# (autovacuum's default threshold, autovacuum_analyze_scale_factor): the statistics the next
# plans are made with arrive with the rows they describe, a first load's above all.
ANALYZE_SHARE = 0.1


def _refresh_statistics(cur: psycopg.Cursor, changed: int) -> None:
    """ANALYZE movies when `changed` rows are a large share of it (its estimated size before,
    -1 when never analysed). Inside the caller's transaction: ANALYZE counts that transaction's
    own rows as live, and its statistics are seen, as the rows are, at the commit."""
    row = cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'movies'::regclass").fetchone()
    estimated = row[0] if row else -1
    if changed and (estimated < 0 or changed >= ANALYZE_SHARE * estimated):
        cur.execute("ANALYZE movies")


MOVIES = sql.Identifier("movies")


def publish(cur: psycopg.Cursor, upload_id: uuid.UUID) -> int:
    """Apply the upload's change set to `movies` and keep its history; the new catalogue
    version. The caller holds PUBLISH_LOCK and commits (or rolls back) with the upload's
    completion."""
    changes = changes_table(upload_id)
    cur.execute("DELETE FROM movie_changes WHERE upload_id = %s", (upload_id,))  # a rerun's
    if _worth_rebuilding(cur, changes):
        rebuild(cur, lambda movies: _apply(cur, upload_id, movies))
    else:
        _refresh_statistics(cur, _apply(cur, upload_id, MOVIES))
    return advance_catalogue_version(cur.connection)


def _apply(cur: psycopg.Cursor, upload_id: uuid.UUID, movies: sql.Identifier) -> int:
    """The change set applied to the table `movies`, its history kept; the rows changed."""
    changes = changes_table(upload_id)
    params = {"upload_id": upload_id}
    cur.execute(
        sql.SQL(_KEEP_BEFORE).format(
            changes=changes, movies=movies, m_pairs=json_pairs("m"), c_pairs=json_pairs("c")
        ),
        params,
    )
    updated = cur.execute(
        sql.SQL(_UPDATE).format(
            movies=movies,
            changes=changes,
            values=cols(VALUE_COLUMNS),
            c_values=cols(VALUE_COLUMNS, "c."),
        ),
        params,
    ).rowcount
    inserted = cur.execute(
        sql.SQL(_INSERT).format(movies=movies, changes=changes, all=cols(MOVIE_COLUMNS)), params
    ).rowcount
    return updated + inserted


def _worth_rebuilding(cur: psycopg.Cursor, changes: sql.Identifier) -> bool:
    """Whether the change set inserts enough movies, against the catalogue's size, that
    building the catalogue anew costs less than maintaining its indexes row by row
    (MOVIEDB_REBUILD_SHARE, MOVIEDB_REBUILD_MIN_ROWS; measured in bench/ingest.py)."""
    settings = get_settings()
    row = cur.execute(
        sql.SQL("SELECT count(*) FROM {changes} WHERE change = 'inserted'").format(changes=changes)
    ).fetchone()
    inserted = int(row[0]) if row else 0
    if inserted == 0 or inserted < settings.rebuild_min_rows:
        return False
    row = cur.execute("SELECT count(*) FROM movies").fetchone()
    return inserted >= settings.rebuild_share * (int(row[0]) if row else 0)


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
    _refresh_statistics(cur, removed + restored)
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
