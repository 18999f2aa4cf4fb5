"""The ingestion pipeline: one upload, one binary stream, one atomic publish.

Every door (CLI, API background task, Celery, S3 event) calls `process_upload`. It claims the
upload, streams the file through `MovieCsv` in chunks, and for each chunk COPYs the rows into a
temporary staging table and merges them into `movies` by natural key. All chunks, the rejected
rows and the final counts commit in ONE transaction: readers see all of an upload or none of it,
and a crash at any point rolls back to the state before, so a retry ends like one clean run.

Counting: each record received is exactly one of inserted / updated / unchanged / rejected.
Records are applied in file order, so a key repeated in a file is inserted by its first
occurrence and updated (or left unchanged) by the later ones: the last one wins.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO

import psycopg
from psycopg import sql

from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.errors import InvalidCsvHeader, MovieDbError, TooManyRejectedRows
from functions.core.ingest.parsing import (
    MOVIE_COLUMNS,
    STAGING_COLUMNS,
    MovieCsv,
    Rejection,
    StagingRow,
)
from functions.core.storage import open_stored
from functions.core.uploads.records import (
    Outcome,
    Upload,
    claim_upload,
    complete_upload,
    fail_upload,
    get_upload,
    heartbeat,
    save_rejections,
)
from functions.core.uploads.workers import dead_local_worker, worker_name

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
HEARTBEAT_SECONDS = 2.0
# One ingestion publishes at a time: concurrent merges of overlapping files could deadlock.
INGEST_LOCK_KEY = 0x6D6F7669  # "movi"

Connect = Callable[[], psycopg.Connection]
OpenStream = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass
class Counts:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        for name in ("received", "inserted", "updated", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def consistent(self) -> bool:
        return self.received == self.inserted + self.updated + self.unchanged + self.rejected


@dataclass
class Progress:
    rows: int
    bytes: int
    counts: Counts = field(default_factory=Counts)


ProgressCallback = Callable[[Progress], None]


class LeaseLost(MovieDbError):
    """Another worker took the upload over (our lease expired); our transaction is dropped."""


class CountingReader(io.RawIOBase):
    """A read-only binary stream that counts the bytes read through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n


# --- SQL ---------------------------------------------------------------------------------------

_STAGING_DDL = """
    CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
        line bigint NOT NULL,
        title text, original_title text, original_language text, overview text,
        release_date date, budget bigint, revenue bigint, runtime integer, status text,
        vote_average real, vote_count integer, production_company_id bigint, genre_id bigint,
        homepage text, languages text[]
    ) ON COMMIT DROP
"""
_COPY_STAGING = sql.SQL("COPY ingest_staging ({}) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, STAGING_COLUMNS))
)
_KEY = ("title", "release_date", "original_language")
_VALUE_COLUMNS = tuple(c for c in MOVIE_COLUMNS if c not in _KEY)


def _cols(names: tuple[str, ...], prefix: str = "") -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(n) for n in names)


# A chunk, applied in file order. Each key's last occurrence is what gets published. Counting
# follows the file: a key's first occurrence is compared with the movie as it was before this
# chunk (the merge tells that for keys that occur once; for repeated keys `repeated_firsts` looks
# it up), and every later occurrence with the one before it. `natural_key` is the natural key
# with its NULLs made comparable with `=`, so repeated keys can be matched by a hash join.
_MERGE_CHUNK = sql.SQL(
    """
    WITH ranked AS MATERIALIZED (
        SELECT s.*,
               lag(line) OVER w IS NULL AS is_first,
               lead(line) OVER w IS NULL AS is_last,
               ROW({values}) IS NOT DISTINCT FROM lag(ROW({values})) OVER w AS same_as_previous
          FROM ingest_staging s
        WINDOW w AS (PARTITION BY {key} ORDER BY line)
    ),
    repeated_firsts AS MATERIALIZED (
        SELECT r.title, r.release_date, r.original_language,
               m.id IS NULL AS is_new,
               ROW({repeated_values}) IS NOT DISTINCT FROM ROW({movie_values}) AS same
          FROM ranked r
          LEFT JOIN movies m
            ON m.title = r.title
           AND m.release_date IS NOT DISTINCT FROM r.release_date
           AND m.original_language IS NOT DISTINCT FROM r.original_language
         WHERE r.is_first AND NOT r.is_last
    ),
    merged AS (
        INSERT INTO movies ({all}, last_upload_id)
        SELECT {all}, %(upload_id)s FROM ranked WHERE is_last
        ON CONFLICT ON CONSTRAINT movies_natural_key DO UPDATE
           SET ({values}, last_upload_id, updated_at)
             = ROW({excluded}, EXCLUDED.last_upload_id, now())
         WHERE ROW({current}) IS DISTINCT FROM ROW({excluded})
        RETURNING xmax = 0 AS inserted, title, release_date, original_language
    ),
    merged_once AS (  -- the merge's outcome for keys that occur once in the chunk
        SELECT m.inserted FROM merged m
         WHERE NOT EXISTS (
               SELECT 1 FROM repeated_firsts f
                WHERE f.title = m.title
                  AND coalesce(f.release_date, '-infinity') = coalesce(m.release_date, '-infinity')
                  AND coalesce(f.original_language, '') = coalesce(m.original_language, ''))
    )
    SELECT o.inserted, o.updated, r.once,
           f.inserted, f.updated, f.unchanged,
           r.later_updated, r.later_unchanged
      FROM (SELECT count(*) FILTER (WHERE inserted) AS inserted,
                   count(*) FILTER (WHERE NOT inserted) AS updated
              FROM merged_once) o,
           (SELECT count(*) FILTER (WHERE is_new) AS inserted,
                   count(*) FILTER (WHERE NOT is_new AND NOT same) AS updated,
                   count(*) FILTER (WHERE NOT is_new AND same) AS unchanged
              FROM repeated_firsts) f,
           (SELECT count(*) FILTER (WHERE is_first AND is_last) AS once,
                   count(*) FILTER (WHERE NOT is_first AND NOT same_as_previous) AS later_updated,
                   count(*) FILTER (WHERE NOT is_first AND same_as_previous) AS later_unchanged
              FROM ranked) r
    """
).format(
    values=_cols(_VALUE_COLUMNS),
    key=_cols(_KEY),
    all=_cols(MOVIE_COLUMNS),
    excluded=_cols(_VALUE_COLUMNS, "EXCLUDED."),
    current=_cols(_VALUE_COLUMNS, "movies."),
    repeated_values=_cols(_VALUE_COLUMNS, "r."),
    movie_values=_cols(_VALUE_COLUMNS, "m."),
)

# --- the pipeline ------------------------------------------------------------------------------


Chunk = tuple[list[StagingRow], list[Rejection]]


def _chunks(records: Iterator[StagingRow | Rejection], size: int) -> Iterator[Chunk]:
    while batch := list(islice(records, size)):
        rows = [r for r in batch if type(r) is list]
        yield rows, [r for r in batch if type(r) is Rejection] if len(rows) < len(batch) else []


class _ReadAhead:
    """Parses the next chunks in a thread while the database merges the current one.

    Parsing is Python work; merging is PostgreSQL's. Overlapping them keeps both cores busy.
    At most `depth` parsed chunks wait in memory.
    """

    _DONE = object()

    def __init__(self, chunks: Iterator[Chunk], depth: int = 2) -> None:
        self._chunks = chunks
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="csv-read-ahead", daemon=True)

    def _produce(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put(e)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self) -> Iterator[Chunk]:
        self._thread.start()
        return self._consume()

    def _consume(self) -> Iterator[Chunk]:
        while (item := self._queue.get()) is not self._DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _merge_chunk(cur: psycopg.Cursor, upload_id: uuid.UUID, rows: list[StagingRow]) -> Counts:
    cur.execute("TRUNCATE ingest_staging")
    with cur.copy(_COPY_STAGING) as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(_MERGE_CHUNK, {"upload_id": upload_id})
    (
        once_inserted,
        once_updated,
        once,
        first_inserted,
        first_updated,
        first_unchanged,
        later_updated,
        later_unchanged,
    ) = cur.fetchone()  # type: ignore[misc]
    return Counts(
        received=len(rows),
        inserted=once_inserted + first_inserted,
        updated=once_updated + first_updated + later_updated,
        unchanged=(once - once_inserted - once_updated) + first_unchanged + later_unchanged,
    )


class _Heartbeat:
    """Renews the upload's lease and reports progress, at most every HEARTBEAT_SECONDS."""

    def __init__(self, conn: psycopg.Connection, upload: Upload, worker: str, lease: int) -> None:
        self.conn, self._upload, self._worker, self._lease = conn, upload, worker, lease
        self._last = 0.0

    def beat(self, rows: int, bytes_read: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < HEARTBEAT_SECONDS:
            return
        self._last = now
        alive = heartbeat(
            self.conn,
            self._upload.id,
            worker=self._worker,
            lease_seconds=self._lease,
            rows_read=rows,
            bytes_read=bytes_read,
        )
        if not alive:
            raise LeaseLost(f"upload {self._upload.id} was taken over by another worker")


def _wait_for_ingest_lock(cur: psycopg.Cursor, lease: _Heartbeat) -> None:
    while not cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (INGEST_LOCK_KEY,)).fetchone()[0]:  # type: ignore[index]
        lease.beat(0, 0)
        time.sleep(0.2)


def _load(
    conn: psycopg.Connection,
    lease: _Heartbeat,
    upload: Upload,
    stream: BinaryIO,
    *,
    worker: str,
    max_error_rate: float | None,
    on_progress: ProgressCallback | None,
) -> Counts:
    reader = CountingReader(stream)
    movie_csv = MovieCsv(reader)  # the header is checked here, before anything is written
    counts = Counts()
    with conn.transaction(), conn.cursor() as cur:
        _wait_for_ingest_lock(cur, lease)
        cur.execute("SET LOCAL work_mem = '64MB'")  # a chunk's window sort stays in memory
        # A worker hung outside the database must not hold the ingest lock forever: its
        # session ends, its transaction rolls back, and the upload is taken over.
        cur.execute("SET LOCAL idle_in_transaction_session_timeout = '5min'")
        cur.execute(_STAGING_DDL)
        with _ReadAhead(_chunks(movie_csv.rows(), CHUNK_ROWS)) as chunks:
            for rows, rejections in chunks:
                counts.add(_merge_chunk(cur, upload.id, rows))
                if rejections:
                    # written at once, outside the publishing transaction: visible while the
                    # upload runs and kept when it fails (a retry's claim clears them)
                    save_rejections(lease.conn, upload.id, rejections)
                    counts.add(Counts(received=len(rejections), rejected=len(rejections)))
                lease.beat(counts.received, reader.bytes_read)
                if on_progress:
                    on_progress(Progress(counts.received, reader.bytes_read, counts))
        assert counts.consistent, counts
        if max_error_rate is not None and counts.rejected > max_error_rate * counts.received:
            raise TooManyRejectedRows(counts.rejected, counts.received, max_error_rate)
        outcome = Outcome(
            **counts.__dict__,
            ignored_columns=movie_csv.layout.ignored_columns,
            bytes_read=reader.bytes_read,
        )
        if not complete_upload(conn, upload.id, worker=worker, outcome=outcome):
            raise LeaseLost(f"upload {upload.id} was taken over by another worker")
    return counts


def process_upload(
    connect: Connect,
    upload_id: uuid.UUID | str,
    open_stream: OpenStream,
    *,
    lease_seconds: int = 60,
    retry_failed: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Upload:
    """Ingest one upload end to end and return its final record.

    Safe to call more than once, concurrently or after a crash: an upload that is finished, or
    held by a live worker, is returned as it is.
    """
    worker = worker_name()
    with connect() as side:  # autocommit: claims, heartbeats and failures are seen at once
        current = get_upload(side, upload_id)
        upload = claim_upload(
            side,
            upload_id,
            worker=worker,
            lease_seconds=lease_seconds,
            retry_failed=retry_failed,
            dead_owner=dead_local_worker(current.lease_owner),
        )
        if upload is None:
            return get_upload(side, upload_id)
        log = {"upload_id": str(upload.id), "attempt": upload.attempts}
        logger.info("ingestion started", extra=log)
        lease = _Heartbeat(side, upload, worker, lease_seconds)
        try:
            with connect() as work, open_stream() as stream:
                counts = _load(
                    work,
                    lease,
                    upload,
                    stream,
                    worker=worker,
                    max_error_rate=upload.max_error_rate,
                    on_progress=on_progress,
                )
        except LeaseLost:
            logger.warning("lease lost, leaving the upload to its new worker", extra=log)
            raise
        except (InvalidCsvHeader, TooManyRejectedRows) as e:
            fail_upload(side, upload.id, worker=worker, error=str(e))
            logger.info("upload rejected as a whole", extra={**log, "error": str(e)})
        except Exception as e:
            fail_upload(side, upload.id, worker=worker, error=f"{type(e).__name__}: {e}")
            logger.exception("ingestion failed", extra=log)
            raise
        else:
            logger.info("ingestion finished", extra={**log, **counts.__dict__})
        return get_upload(side, upload.id)


def run_upload(
    upload_id: uuid.UUID | str,
    *,
    retry_failed: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Upload:
    """What every door calls: ingest a registered upload from where its file is stored."""
    with connect() as conn:
        upload = get_upload(conn, upload_id)
    if upload.storage_uri is None:
        return upload  # a presigned upload whose file has not arrived: nothing to do yet
    uri = upload.storage_uri
    return process_upload(
        connect,
        upload.id,
        lambda: open_stored(uri),
        lease_seconds=get_settings().upload_lease_seconds,
        retry_failed=retry_failed,
        on_progress=on_progress,
    )
