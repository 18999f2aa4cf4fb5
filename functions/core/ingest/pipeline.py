"""The ingestion pipeline: an upload is staged and validated, then its change set published.

Every door (CLI, API, Celery, S3 event) calls `process_upload` (through `run_upload`). It
claims the upload and, by its status:
- processing: streams the file through `MovieCsv` in chunks (a large file's in a parser process
  beside this one: functions/core/ingest/parse_process.py), COPYs the accepted rows into the
  upload's own staging table (functions/core/ingest/staging.py), records rejected rows, computes
  the change set and the counts against the catalogue, and ends `validated` (a review was
  asked for) or goes on to publish. Uploads are processed side by side: nothing here is locked.
- publishing: under the publish lock (one publish or revert at a time), computes the change set
  again when the catalogue changed since validation, applies it (functions/core/ingest/
  publish.py) and completes the upload, in ONE short transaction: readers see all of an upload
  or none of it.
A crash at any point rolls its transaction back (the staging tables with it), so a retry ends
like one clean run. A cancelled upload's worker stops at its next heartbeat.

Counting: each record received is exactly one of inserted / updated / unchanged / rejected.
Records are applied in file order, so a key repeated in a file is inserted by its first
occurrence and updated (or left unchanged) by the later ones: the last one wins.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

import psycopg

from functions.core.catalogue.version import catalogue_version
from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.errors import (
    InvalidCsvHeader,
    MovieDbError,
    TooManyRejectedRows,
    UnsupportedLineEndings,
)
from functions.core.ingest import publish, staging
from functions.core.ingest.parse_process import Chunk, ParserProcess
from functions.core.ingest.parsing import MovieCsv, Rejection, StagingRow
from functions.core.storage import is_missing_file, open_stored, storage_error_types
from functions.core.uploads.records import (
    Outcome,
    Upload,
    claim_publishing,
    claim_upload,
    complete_upload,
    fail_upload,
    get_upload,
    heartbeat,
    record_validation,
    save_rejections,
)
from functions.core.uploads.status import Status
from functions.core.uploads.workers import dead_local_worker, worker_name

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
# A parser process sends smaller chunks: with those read ahead and those in the pipe, the two
# processes together stay near one process's peak memory (bench/ingest.py: 20,000-row chunks
# took the pair to 197 MB at 1M rows, these to about 120 MB).
PARSER_PROCESS_CHUNK_ROWS = 5_000
HEARTBEAT_SECONDS = 2.0

Connect = Callable[[], psycopg.Connection]
OpenStream = Callable[[], AbstractContextManager[BinaryIO]]


@dataclass
class Progress:
    rows: int
    bytes: int
    rejected: int = 0


ProgressCallback = Callable[[Progress], None]


class LeaseLost(MovieDbError):
    """Another worker took the upload over (our lease expired); our transaction is dropped."""


class UploadCancelled(MovieDbError):
    """The upload was cancelled while this worker ran it; its transaction is dropped."""


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


def _chunks(records: Iterator[StagingRow | Rejection], size: int) -> Iterator[Chunk]:
    while batch := list(islice(records, size)):
        rows = [r for r in batch if type(r) is list]
        rejections = [r for r in batch if type(r) is Rejection] if len(rows) < len(batch) else []
        yield rows, rejections, len(batch)


class _ReadAhead:
    """Takes the next chunks in a thread (parsing them, or reading them from the parser
    process) while the current one streams to the database. At most `depth` chunks wait in
    memory.
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


class _Lease:
    """Renews the upload's lease and reports progress, at most every HEARTBEAT_SECONDS; finds
    out there that the upload was cancelled or taken over."""

    def __init__(self, conn: psycopg.Connection, upload: Upload, worker: str, seconds: int) -> None:
        self.conn, self.upload, self.worker, self.seconds = conn, upload, worker, seconds
        self._last = 0.0

    def beat(self, rows: int | None = None, bytes_read: int | None = None) -> None:
        now = time.monotonic()
        if now - self._last < HEARTBEAT_SECONDS:
            return
        self._last = now
        alive = heartbeat(
            self.conn,
            self.upload.id,
            worker=self.worker,
            lease_seconds=self.seconds,
            rows_read=rows,
            bytes_read=bytes_read,
        )
        if not alive:
            self.lost()

    def lost(self) -> None:
        if get_upload(self.conn, self.upload.id).status == Status.CANCELLED:
            raise UploadCancelled(f"upload {self.upload.id} was cancelled")
        raise LeaseLost(f"upload {self.upload.id} was taken over by another worker")


def _stage(
    conn: psycopg.Connection, lease: _Lease, stream: BinaryIO, on_progress: ProgressCallback | None
) -> Upload:
    """Parse, validate and stage the file; compute its change set and counts. Ends validated
    or publishing (committed), or raises (rolled back)."""
    upload = lease.upload
    reader = CountingReader(stream)
    with _parser(reader, upload) as parser:  # the header is checked here, before any write
        return _stage_parsed(conn, lease, reader, parser, on_progress)


class _InProcessParser:
    """`MovieCsv` in this process, with the interface of `ParserProcess`."""

    def __init__(self, stream: BinaryIO | io.RawIOBase) -> None:
        self._movie_csv = MovieCsv(stream)
        self.layout = self._movie_csv.layout

    def chunks(self) -> Iterator[Chunk]:
        return _chunks(self._movie_csv.rows(), CHUNK_ROWS)

    def __enter__(self) -> _InProcessParser:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _parser(stream: CountingReader, upload: Upload) -> ParserProcess | _InProcessParser:
    """A child process parses a large file (or one of unknown size) when there is a second
    CPU for it (MOVIEDB_PARSER_PROCESS_MIN_BYTES); this process parses the others."""
    threshold = get_settings().parser_process_min_bytes
    large = upload.size_bytes is None or (threshold is not None and upload.size_bytes >= threshold)
    if threshold is not None and large and _available_cpus() > 1:
        return ParserProcess(stream, PARSER_PROCESS_CHUNK_ROWS)
    return _InProcessParser(stream)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _stage_parsed(
    conn: psycopg.Connection,
    lease: _Lease,
    reader: CountingReader,
    parser: ParserProcess | _InProcessParser,
    on_progress: ProgressCallback | None,
) -> Upload:
    upload = lease.upload
    received = rejected = 0

    def accepted(chunks: Iterator[Chunk]) -> Iterator[list[StagingRow] | bytes]:
        """The accepted rows, chunk after chunk (rows, or COPY text from a parser process);
        between chunks, the rejections are saved and the lease renewed (both on the side
        connection, while the COPY streams on)."""
        nonlocal received, rejected
        for rows, rejections, records in chunks:
            yield rows
            if rejections:
                # written at once, outside the processing transaction: visible while the
                # upload runs and kept when it fails (a retry's claim clears them)
                save_rejections(lease.conn, upload.id, rejections)
            received += records
            rejected += len(rejections)
            lease.beat(received, reader.bytes_read)
            if on_progress:
                on_progress(Progress(received, reader.bytes_read, rejected))

    with conn.transaction(), conn.cursor() as cur:
        # A worker hung outside the database must not hold its transaction forever.
        cur.execute("SET LOCAL idle_in_transaction_session_timeout = '5min'")
        cur.execute("SET LOCAL work_mem = '64MB'")  # the change set's sorts stay in memory
        staging.create_rows(cur, upload.id)
        with _ReadAhead(parser.chunks()) as chunks:
            # one COPY for the whole file: PostgreSQL takes the rows in as they are parsed,
            # with no wait at the end of each chunk (bench/ingest.py measured it)
            staging.copy_rows(cur, upload.id, accepted(chunks))
        version = catalogue_version(conn)
        staged = staging.compute_changes(cur, upload.id)
        outcome = Outcome(
            received=staged.received + rejected,
            inserted=staged.inserted,
            updated=staged.updated,
            unchanged=staged.unchanged,
            rejected=rejected,
        )
        assert outcome.consistent, outcome
        if upload.max_error_rate is not None and rejected > upload.max_error_rate * received:
            raise TooManyRejectedRows(rejected, received, upload.max_error_rate)
        validated = record_validation(
            conn,
            upload.id,
            worker=lease.worker,
            outcome=outcome,
            ignored_columns=parser.layout.ignored_columns,
            bytes_read=reader.bytes_read,
            catalogue_version=version,
        )
        if validated is None:
            lease.lost()
        assert validated is not None
    return validated


def _wait_for_publish_lock(cur: psycopg.Cursor, lease: _Lease) -> None:
    while not cur.execute(
        "SELECT pg_try_advisory_xact_lock(%s)", (publish.PUBLISH_LOCK,)
    ).fetchone()[0]:  # type: ignore[index]
        lease.beat()
        time.sleep(0.2)


def _publish(conn: psycopg.Connection, lease: _Lease) -> None:
    """Apply the staged change set in one transaction under the publish lock."""
    upload = lease.upload
    with conn.transaction(), conn.cursor() as cur:
        _wait_for_publish_lock(cur, lease)
        outcome = Outcome(
            received=upload.received or 0,
            inserted=upload.inserted or 0,
            updated=upload.updated or 0,
            unchanged=upload.unchanged or 0,
            rejected=upload.rejected or 0,
        )
        if catalogue_version(conn) != upload.validated_version:
            # Another publish or a revert changed the catalogue since: the change set and
            # the counts are computed again against the catalogue as it is now.
            staged = staging.compute_changes(cur, upload.id)
            outcome = Outcome(
                received=outcome.received,
                inserted=staged.inserted,
                updated=staged.updated,
                unchanged=staged.unchanged,
                rejected=outcome.rejected,
            )
            logger.info("change set computed again at publish", extra={"upload_id": str(upload.id)})
        publish.publish(cur, upload.id)
        staging.drop(cur, upload.id)
        if not complete_upload(conn, upload.id, worker=lease.worker, outcome=outcome):
            lease.lost()


@dataclass(frozen=True)
class Failure:
    """Why an upload failed, as its record keeps it: a stable `code` and a `message` for people.
    An exception's own text (SQL, paths, hosts, ports) never goes there, only to the log."""

    code: str
    message: str


def failure_of(error: BaseException) -> Failure:
    """The code and message recorded for an upload that failed with `error`."""
    if isinstance(error, UnsupportedLineEndings):
        return Failure("unsupported_line_endings", str(error))
    if isinstance(error, InvalidCsvHeader):
        return Failure("invalid_csv_header", str(error))
    if isinstance(error, TooManyRejectedRows):
        return Failure("too_many_rejected_rows", str(error))
    if is_missing_file(error):
        return Failure("stored_file_missing", "the uploaded file is no longer in storage")
    if isinstance(error, psycopg.OperationalError):
        return Failure(
            "database_unavailable",
            "the database was unavailable while the upload was processed",
        )
    if isinstance(error, storage_error_types()):
        return Failure("storage_unavailable", "the stored file could not be read")
    return Failure(
        "internal_error", "the upload could not be processed because of an internal error"
    )


def process_upload(
    connect: Connect,
    upload_id: uuid.UUID | str,
    open_stream: OpenStream,
    *,
    lease_seconds: int = 60,
    retry_failed: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Upload:
    """Take an upload as far as it goes (validated, or completed) and return its record.

    Safe to call more than once, concurrently or after a crash: an upload that is finished, or
    held by a live worker, is returned as it is.
    """
    worker = worker_name()
    with connect() as side:  # autocommit: claims, heartbeats and failures are seen at once
        current = get_upload(side, upload_id)
        dead = dead_local_worker(current.lease_owner)
        if current.status == Status.PUBLISHING:
            upload = claim_publishing(
                side, upload_id, worker=worker, lease_seconds=lease_seconds, dead_owner=dead
            )
        else:
            upload = claim_upload(
                side,
                upload_id,
                worker=worker,
                lease_seconds=lease_seconds,
                retry_failed=retry_failed,
                dead_owner=dead,
            )
        if upload is None:
            return get_upload(side, upload_id)
        log = {"upload_id": str(upload.id), "attempt": upload.attempts}
        logger.info("ingestion started", extra={**log, "status": upload.status})
        lease = _Lease(side, upload, worker, lease_seconds)
        try:
            with connect() as work:
                if upload.status == Status.PROCESSING:
                    with open_stream() as stream:
                        lease.upload = _stage(work, lease, stream, on_progress)
                if lease.upload.status == Status.PUBLISHING:
                    _publish(work, lease)
        except LeaseLost:
            logger.warning("lease lost, leaving the upload to its new worker", extra=log)
            raise
        except UploadCancelled:
            logger.info("upload cancelled, its work dropped", extra=log)
        except (InvalidCsvHeader, TooManyRejectedRows) as e:
            failure = failure_of(e)
            fail_upload(side, upload.id, worker=worker, code=failure.code, error=failure.message)
            logger.info("upload rejected as a whole", extra={**log, "error": str(e)})
        except Exception as e:
            failure = failure_of(e)
            fail_upload(side, upload.id, worker=worker, code=failure.code, error=failure.message)
            # the details (the exception's text, its traceback) are for operators only
            logger.exception("ingestion failed", extra={**log, "error_code": failure.code})
            raise
        final = get_upload(side, upload.id)
        logger.info("ingestion finished", extra={**log, "status": final.status})
        return final


def run_upload(
    upload_id: uuid.UUID | str,
    *,
    retry_failed: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Upload:
    """What every door calls: take a registered upload as far as it goes, from where its file
    is stored."""
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
