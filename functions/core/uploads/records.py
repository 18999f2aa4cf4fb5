"""Upload records: the one owner of the tables `uploads`, `upload_rejections` and `s3_objects`.

Every SQL statement on those tables is here, one named function per transition or read:
register, claim, heartbeat, complete, fail, discard (a pending upload never started), the S3
door's arrive / find / register, and the reads (one upload, the newest-first list, the rejected
rows, what recovery needs). Statuses and which may follow which are `status.py`'s; the SQL below
checks them with `status = ANY(allowed_before(...))`.

An upload is `pending` when accepted, `processing` while a worker holds its lease, then
`completed` or `failed`. A worker's lease is renewed by heartbeats; one that expires (the worker
died) lets another worker take the upload over.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from functions.core.errors import MovieDbError, UploadNotFound
from functions.core.uploads.status import (
    ALLOWED_BEFORE,
    RERUNNABLE,
    UNFINISHED,
    Status,
    allowed_before,
)

logger = logging.getLogger(__name__)


@dataclass
class Upload:
    id: uuid.UUID
    filename: str
    source: str
    content_sha256: str | None
    size_bytes: int | None
    storage_uri: str | None
    status: Status
    max_error_rate: float | None
    received: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    rejected: int | None
    ignored_columns: list[str]
    error: str | None
    rows_read: int
    bytes_read: int
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    review: bool
    validated_version: int | None
    validated_at: datetime | None
    published_at: datetime | None
    cancelled_at: datetime | None
    reverted_at: datetime | None
    removed: int | None
    restored: int | None
    error_code: str | None  # why it failed, a stable name (`error` is the message for people)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def finished(self) -> bool:
        return self.status.finished


# The explicit column list every read of `uploads` selects (never `*`): the dataclass's fields.
_UPLOAD_COLUMNS = sql.SQL(", ").join(sql.Identifier(f.name) for f in fields(Upload))


def _upload_sql(template: str, prefix: str = "") -> sql.Composed:
    """`template` with `{columns}` replaced by the upload columns (qualified by `prefix`)."""
    columns = (
        sql.SQL(", ").join(sql.Identifier(prefix, f.name) for f in fields(Upload))
        if prefix
        else _UPLOAD_COLUMNS
    )
    return sql.SQL(template).format(columns=columns)


@dataclass
class NewUpload:
    filename: str
    source: str
    content_sha256: str | None = None
    size_bytes: int | None = None
    storage_uri: str | None = None
    max_error_rate: float | None = None
    review: bool = False


@dataclass
class Registration:
    upload: Upload
    created: bool  # False: the same content was already registered as `upload`
    replaced_uri: str | None = None  # a failed earlier upload's old file, now superseded
    retry: bool = False  # the earlier upload had failed, or was cancelled or reverted: it is
    # pending again, to run again


# --- register, read ------------------------------------------------------------------------


def register_upload(conn: psycopg.Connection, new: NewUpload) -> Registration:
    """Record an accepted file, or return the earlier upload of the same content."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                """
                INSERT INTO uploads (filename, source, content_sha256, size_bytes, storage_uri,
                                     max_error_rate, review)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (content_sha256) DO NOTHING
                RETURNING {columns}
                """
            ),
            (
                new.filename,
                new.source,
                new.content_sha256,
                new.size_bytes,
                new.storage_uri,
                new.max_error_rate,
                new.review,
            ),
        )
        row = cur.fetchone()
        if row is not None:
            logger.info("upload registered", extra={"upload_id": str(row.id)})
            return Registration(row, created=True)
        cur.execute(
            _upload_sql("SELECT {columns} FROM uploads WHERE content_sha256 = %s"),
            (new.content_sha256,),
        )
        existing = cur.fetchone()
        if existing is not None and existing.status in RERUNNABLE and new.storage_uri:
            # It is run again (pending once more), on the copy just sent: the old one may be
            # gone (a moved file).
            cur.execute(
                _upload_sql(
                    "UPDATE uploads SET storage_uri = %s, status = %s, review = %s, error = NULL,"
                    " error_code = NULL,"
                    " finished_at = NULL, cancelled_at = NULL, reverted_at = NULL,"
                    " removed = NULL, restored = NULL, updated_at = now()"
                    " WHERE id = %s AND status = ANY(%s) RETURNING {columns}"
                ),
                (
                    new.storage_uri,
                    Status.PENDING,
                    new.review,
                    existing.id,
                    allowed_before(Status.PENDING),
                ),
            )
            if (retried := cur.fetchone()) is not None:
                return Registration(
                    retried, created=False, replaced_uri=existing.storage_uri, retry=True
                )
    if existing is None:  # deleted between the two statements: register again
        return register_upload(conn, new)
    return Registration(existing, created=False)


def discard_pending_upload(conn: psycopg.Connection, upload_id: uuid.UUID) -> str | None:
    """Forget an upload no one has started (its job could not be queued); return where its
    file is stored, for the caller to delete. None when it is gone or already started."""
    row = conn.execute(
        "DELETE FROM uploads WHERE id = %s AND status = %s RETURNING storage_uri",
        (upload_id, Status.PENDING),
    ).fetchone()
    return row[0] if row else None


def get_upload(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(_upload_sql("SELECT {columns} FROM uploads WHERE id = %s"), (str(upload_id),))
        row = cur.fetchone()
    if row is None:
        raise UploadNotFound(str(upload_id))
    return row


@dataclass
class UploadPage:
    items: list[Upload]
    total: int


def list_uploads(
    conn: psycopg.Connection, *, page: int, page_size: int, status: Status | None = None
) -> UploadPage:
    """Uploads newest first (ties broken by id, so pages never overlap)."""
    where = "WHERE status = %(status)s" if status else ""
    params = {"status": status, "limit": page_size, "offset": (page - 1) * page_size}
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                f"SELECT {{columns}} FROM uploads {where}"
                " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s"
            ),
            params,
        )
        items = cur.fetchall()
    total = conn.execute(f"SELECT count(*) FROM uploads {where}", params).fetchone()
    return UploadPage(items, total[0] if total else 0)


# --- the worker's transitions --------------------------------------------------------------


def claim_upload(
    conn: psycopg.Connection,
    upload_id: uuid.UUID | str,
    *,
    worker: str,
    lease_seconds: int,
    retry_failed: bool = False,
    dead_owner: str | None = None,
) -> Upload | None:
    """Take the upload for processing: pending, or processing under an expired lease (or one
    held by `dead_owner`, known to be gone), or (when asked) failed. None when it is finished
    or another worker holds a live lease."""
    statuses = [s for s in allowed_before(Status.PROCESSING) if retry_failed or s != Status.FAILED]
    with conn.transaction(), conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                """
                UPDATE uploads
                   SET status = %(processing)s, attempts = attempts + 1,
                       lease_owner = %(worker)s,
                       lease_expires_at = now() + make_interval(secs => %(lease)s),
                       started_at = now(), finished_at = NULL, error = NULL,
                       error_code = NULL, rows_read = 0, bytes_read = 0, updated_at = now()
                 WHERE id = %(id)s
                   AND status = ANY(%(statuses)s)
                   AND (status <> %(processing)s OR lease_expires_at IS NULL
                        OR lease_expires_at < now() OR lease_owner IN (%(worker)s, %(dead)s))
                RETURNING {columns}
                """
            ),
            {
                "id": str(upload_id),
                "processing": Status.PROCESSING,
                "worker": worker,
                "dead": dead_owner or worker,
                "lease": lease_seconds,
                "statuses": statuses,
            },
        )
        claimed = cur.fetchone()
        if claimed is not None:  # a new attempt reports its own rejections
            cur.execute("DELETE FROM upload_rejections WHERE upload_id = %s", (claimed.id,))
        return claimed


def claim_publishing(
    conn: psycopg.Connection,
    upload_id: uuid.UUID | str,
    *,
    worker: str,
    lease_seconds: int,
    dead_owner: str | None = None,
) -> Upload | None:
    """Take a `publishing` upload (its publish was asked for, or its publisher died) to
    publish it. None when another worker holds a live lease on it, or it is not publishing."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                """
                UPDATE uploads
                   SET lease_owner = %(worker)s, attempts = attempts + 1,
                       lease_expires_at = now() + make_interval(secs => %(lease)s),
                       updated_at = now()
                 WHERE id = %(id)s AND status = %(publishing)s
                   AND (lease_expires_at IS NULL OR lease_expires_at < now()
                        OR lease_owner IN (%(worker)s, %(dead)s))
                RETURNING {columns}
                """
            ),
            {
                "id": str(upload_id),
                "publishing": Status.PUBLISHING,
                "worker": worker,
                "dead": dead_owner or worker,
                "lease": lease_seconds,
            },
        )
        return cur.fetchone()


def heartbeat(
    conn: psycopg.Connection,
    upload_id: uuid.UUID,
    *,
    worker: str,
    lease_seconds: int,
    rows_read: int | None = None,
    bytes_read: int | None = None,
) -> bool:
    """Renew the lease and record progress. False when the lease was lost (another worker
    took the upload over) or the upload was cancelled meanwhile."""
    cur = conn.execute(
        """
        UPDATE uploads
           SET rows_read = coalesce(%s, rows_read), bytes_read = coalesce(%s, bytes_read),
               updated_at = now(), lease_expires_at = now() + make_interval(secs => %s)
         WHERE id = %s AND status = ANY(%s) AND lease_owner = %s
        """,
        (
            rows_read,
            bytes_read,
            lease_seconds,
            upload_id,
            [Status.PROCESSING, Status.PUBLISHING],
            worker,
        ),
    )
    return cur.rowcount == 1


@dataclass
class Outcome:
    """What became of an upload's records; `received = inserted + updated + unchanged +
    rejected`."""

    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int

    @property
    def consistent(self) -> bool:
        return self.received == self.inserted + self.updated + self.unchanged + self.rejected


def _announce(conn: psycopg.Connection, upload_id: uuid.UUID | str, event: str) -> None:
    """Write the event of a state change to the outbox (`upload_events`), with the upload as
    the change left it, in the transaction of that change (functions/core/events/ sends it)."""
    conn.execute(
        "INSERT INTO upload_events (upload_id, event, upload)"
        " SELECT id, %s, to_jsonb(u) FROM uploads u WHERE id = %s",
        (event, str(upload_id)),
    )


def _outcome_params(outcome: Outcome) -> dict[str, int]:
    return {
        "received": outcome.received,
        "inserted": outcome.inserted,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
        "rejected": outcome.rejected,
    }


def record_validation(
    conn: psycopg.Connection,
    upload_id: uuid.UUID,
    *,
    worker: str,
    outcome: Outcome,
    ignored_columns: Sequence[str],
    bytes_read: int,
    catalogue_version: int,
) -> Upload | None:
    """Staged and validated, with the counts its publish would give against the catalogue at
    `catalogue_version`: `validated` when a review was asked for (the worker lets go), else
    `publishing` (the worker keeps its lease and publishes). In the processing transaction of
    `conn`; None when the lease was lost or the upload cancelled meanwhile (roll back)."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                """
                UPDATE uploads
                   SET status = CASE WHEN review THEN %(validated)s ELSE %(publishing)s END,
                       received = %(received)s, inserted = %(inserted)s, updated = %(updated)s,
                       unchanged = %(unchanged)s, rejected = %(rejected)s,
                       ignored_columns = %(ignored)s, rows_read = %(received)s,
                       bytes_read = %(bytes)s, validated_version = %(version)s,
                       validated_at = clock_timestamp(), updated_at = clock_timestamp(),
                       lease_owner = CASE WHEN review THEN NULL ELSE lease_owner END,
                       lease_expires_at = CASE WHEN review THEN NULL ELSE lease_expires_at END
                 WHERE id = %(upload_id)s AND status = %(processing)s
                   AND lease_owner = %(worker)s
                RETURNING {columns}
                """
            ),
            {
                "validated": Status.VALIDATED,
                "publishing": Status.PUBLISHING,
                "processing": Status.PROCESSING,
                "upload_id": upload_id,
                "worker": worker,
                "ignored": list(ignored_columns),
                "bytes": bytes_read,
                "version": catalogue_version,
                **_outcome_params(outcome),
            },
        )
        validated = cur.fetchone()
    if validated is not None and validated.status == Status.VALIDATED:
        _announce(conn, upload_id, "upload.validated")
    return validated


@dataclass
class UploadConflict(MovieDbError):
    """The upload is not in a state that allows what was asked (a 409)."""

    upload_id: str
    status: str
    action: str

    def __str__(self) -> str:
        return f"upload {self.upload_id} is {self.status}: it cannot be {self.action}"


class UploadNotPublishable(UploadConflict):
    pass


class UploadNotCancellable(UploadConflict):
    pass


class UploadNotRevertible(UploadConflict):
    pass


def request_publish(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    """A validated upload is to be published: `publishing`, with no lease yet (the worker it
    is dispatched to claims it). Raises UploadNotPublishable otherwise (a publishing one is
    returned as it is: asking twice is harmless)."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                "UPDATE uploads SET status = %s, lease_owner = NULL, lease_expires_at = NULL,"
                " updated_at = now() WHERE id = %s AND status = %s RETURNING {columns}"
            ),
            (Status.PUBLISHING, str(upload_id), Status.VALIDATED),
        )
        row = cur.fetchone()
    if row is not None:
        return row
    current = get_upload(conn, upload_id)
    if current.status == Status.PUBLISHING:
        return current
    raise UploadNotPublishable(str(upload_id), current.status, "published")


def complete_upload(
    conn: psycopg.Connection, upload_id: uuid.UUID, *, worker: str, outcome: Outcome
) -> bool:
    """Record the final counts (in the publishing transaction of `conn`). False when the lease
    was lost meanwhile: the caller must roll back."""
    cur = conn.execute(
        """
        UPDATE uploads
           SET status = %(completed)s, error = NULL, error_code = NULL,
               received = %(received)s, inserted = %(inserted)s, updated = %(updated)s,
               unchanged = %(unchanged)s, rejected = %(rejected)s,
               published_at = clock_timestamp(), finished_at = clock_timestamp(),
               updated_at = clock_timestamp(), lease_owner = NULL, lease_expires_at = NULL
         WHERE id = %(upload_id)s AND status = ANY(%(before)s) AND lease_owner = %(worker)s
        """,
        {
            "completed": Status.COMPLETED,
            "before": allowed_before(Status.COMPLETED),
            "upload_id": upload_id,
            "worker": worker,
            **_outcome_params(outcome),
        },
    )
    if cur.rowcount != 1:
        return False
    _announce(conn, upload_id, "upload.completed")
    return True


def cancel_upload(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> tuple[Upload, Status]:
    """Cancel a pending, processing or validated upload; return it and the status it had (its
    worker, if one runs, notices at its next heartbeat and stops). Raises
    UploadNotCancellable otherwise."""
    with conn.transaction():
        current = lock_upload(conn, upload_id)
        if current.status not in ALLOWED_BEFORE[Status.CANCELLED]:
            raise UploadNotCancellable(str(upload_id), current.status, "cancelled")
        with conn.cursor(row_factory=class_row(Upload)) as cur:
            cur.execute(
                _upload_sql(
                    "UPDATE uploads SET status = %s, cancelled_at = now(), finished_at = now(),"
                    " updated_at = now(), lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE id = %s RETURNING {columns}"
                ),
                (Status.CANCELLED, current.id),
            )
            cancelled = cur.fetchone()
        _announce(conn, current.id, "upload.cancelled")
    assert cancelled is not None
    return cancelled, current.status


def mark_reverted(
    conn: psycopg.Connection, upload_id: uuid.UUID, *, removed: int, restored: int
) -> Upload:
    """Record a revert (in the revert's transaction)."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(
                "UPDATE uploads SET status = %s, reverted_at = now(), removed = %s,"
                " restored = %s, updated_at = now() WHERE id = %s AND status = %s"
                " RETURNING {columns}"
            ),
            (Status.REVERTED, removed, restored, upload_id, Status.COMPLETED),
        )
        row = cur.fetchone()
    assert row is not None, "mark_reverted is called on a completed upload it holds"
    _announce(conn, upload_id, "upload.reverted")
    return row


def lock_upload(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    """The upload, locked for the rest of the transaction of `conn`."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql("SELECT {columns} FROM uploads WHERE id = %s FOR UPDATE"),
            (str(upload_id),),
        )
        row = cur.fetchone()
    if row is None:
        raise UploadNotFound(str(upload_id))
    return row


def fail_upload(
    conn: psycopg.Connection,
    upload_id: uuid.UUID,
    *,
    worker: str | None,
    code: str,
    error: str,
) -> None:
    """Record a failure as `code` (a stable name) and `error` (a message for people, never an
    exception's text), unless another worker has since taken the upload over."""
    with conn.transaction():
        cur = conn.execute(
            """
            UPDATE uploads
               SET status = %(failed)s, error = %(error)s, error_code = %(code)s,
                   finished_at = now(), updated_at = now(),
                   lease_owner = NULL, lease_expires_at = NULL
             WHERE id = %(id)s AND status = ANY(%(before)s)
               AND (lease_owner IS NOT DISTINCT FROM %(worker)s OR status = %(pending)s)
            """,
            {
                "failed": Status.FAILED,
                "before": [*allowed_before(Status.FAILED), Status.FAILED],
                "pending": Status.PENDING,
                "error": error,
                "code": code,
                "id": upload_id,
                "worker": worker,
            },
        )
        if cur.rowcount == 1:
            _announce(conn, upload_id, "upload.failed")


# --- rejected rows -------------------------------------------------------------------------

REJECTION_FIELDS = ("line", "column", "reason", "raw_record")
REJECTS_BATCH_ROWS = 1000


class RejectedRow(Protocol):
    """A record that could not be loaded (the parser's `Rejection`)."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def raw_record(self) -> str: ...


def save_rejections(
    conn: psycopg.Connection, upload_id: uuid.UUID, rejections: Sequence[RejectedRow]
) -> None:
    """Record rejected rows (a row already recorded for this attempt is kept as it is)."""
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO upload_rejections (upload_id, line, column_name, reason, raw_record)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (upload_id, line) DO NOTHING
            """,
            [(upload_id, r.line, r.column, r.reason, r.raw_record) for r in rejections],
        )


def rejections_after(
    conn: psycopg.Connection, upload_id: uuid.UUID | str, *, after_line: int, limit: int
) -> list[tuple[int, str | None, str, str]]:
    """Up to `limit` rejected rows after line `after_line`, in file order: (line, column,
    reason, raw record)."""
    return conn.execute(
        "SELECT line, column_name, reason, raw_record FROM upload_rejections"
        " WHERE upload_id = %s AND line > %s ORDER BY line LIMIT %s",
        (str(upload_id), after_line, limit),
    ).fetchall()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """`value` with a `'` in front when a spreadsheet would run it as a formula (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def rejects_csv(
    connection: Callable[[], AbstractContextManager[psycopg.Connection]],
    upload_id: uuid.UUID | str,
) -> Iterator[bytes]:
    """The upload's rejected rows as CSV (line, column, reason, raw_record), a batch at a time.

    Each batch is read on a connection of its own from `connection()` (the pool), given back
    before the batch is sent: a slow or vanished client never holds a database connection, and
    memory stays flat however many rows were rejected. Raises UploadNotFound before the first
    byte.
    """
    with connection() as conn:
        get_upload(conn, upload_id)  # raises UploadNotFound
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REJECTION_FIELDS)
    last_line = 0
    while True:
        with connection() as conn:
            batch = rejections_after(
                conn, upload_id, after_line=last_line, limit=REJECTS_BATCH_ROWS
            )
        writer.writerows([spreadsheet_safe(value) for value in row] for row in batch)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(batch) < REJECTS_BATCH_ROWS:
            return
        last_line = batch[-1][0]


# --- recovery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unfinished:
    """An unfinished upload as recovery sees it."""

    id: uuid.UUID
    status: Status
    lease_owner: str | None
    updated_at: datetime
    lease_expired: bool  # processing or publishing under a lease that ran out
    quiet_for: float  # seconds since anything touched it


def unfinished_uploads(conn: psycopg.Connection) -> list[Unfinished]:
    """Uploads accepted but not finished, oldest first. A presigned upload still waiting for
    its file (no storage_uri: nothing to read yet) is not among them."""
    rows = conn.execute(
        """
        SELECT id, status, lease_owner, updated_at,
               lease_expires_at IS NOT NULL AND lease_expires_at < now(),
               extract(epoch FROM now() - updated_at)::float8
          FROM uploads
         WHERE status = ANY(%(unfinished)s) AND storage_uri IS NOT NULL
         ORDER BY created_at
        """,
        {"processing": Status.PROCESSING, "unfinished": sorted(UNFINISHED)},
    ).fetchall()
    return [Unfinished(r[0], Status(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def uploads_that_stage(conn: psycopg.Connection, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `ids` that may still use their staging: being processed, validated (awaiting
    review) or publishing."""
    rows = conn.execute(
        "SELECT id FROM uploads WHERE id = ANY(%s) AND status = ANY(%s)",
        (list(ids), sorted(UNFINISHED | {Status.VALIDATED})),
    ).fetchall()
    return {row[0] for row in rows}


def referenced_file_names(conn: psycopg.Connection, names: Collection[str]) -> set[str]:
    """Those of the file `names` that an upload's storage URI ends with (`.../<name>`),
    whatever directory spelling the URI was stored with."""
    rows = conn.execute(
        "SELECT DISTINCT substring(storage_uri from '[^/]*$') FROM uploads"
        " WHERE substring(storage_uri from '[^/]*$') = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {row[0] for row in rows}


def mark_dispatched(conn: psycopg.Connection, upload_id: uuid.UUID, seen_at: datetime) -> bool:
    """Touch an unfinished upload as handed to a worker again, if it is still as it was seen
    (`updated_at` unchanged): of several reapers racing, one wins each upload."""
    cur = conn.execute(
        "UPDATE uploads SET updated_at = now()"
        " WHERE id = %s AND updated_at = %s AND status = ANY(%s)",
        (upload_id, seen_at, sorted(UNFINISHED)),
    )
    return cur.rowcount == 1


def upload_backlog(conn: psycopg.Connection) -> dict[str, int]:
    """Unfinished uploads by state, for operators: pending, processing, and among those
    processing the ones whose lease has expired (their worker is probably gone)."""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE status = %(pending)s),
               count(*) FILTER (WHERE status = %(processing)s),
               count(*) FILTER (WHERE status = %(processing)s AND lease_expires_at < now())
          FROM uploads WHERE status = ANY(%(unfinished)s)
        """,
        {
            "pending": Status.PENDING,
            "processing": Status.PROCESSING,
            "unfinished": [Status.PENDING, Status.PROCESSING],
        },
    ).fetchone()
    pending, processing, expired = row if row else (0, 0, 0)
    return {"pending": pending, "processing": processing, "lease_expired": expired}


# --- the S3 door's records -----------------------------------------------------------------


@dataclass(frozen=True)
class ObjectVersion:
    """One S3 object version, as the S3 door identifies it."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    event_time: datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _object_params(obj: ObjectVersion, **extra: Any) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "key": obj.key,
        "etag": obj.etag,
        "version_id": obj.version_id,
        "size": obj.size,
        "event_time": obj.event_time,
        "uri": obj.uri,
        **extra,
    }


_ARRIVE_PRESIGNED = """
    WITH arrived AS (
        UPDATE s3_objects
           SET etag = %(etag)s, version_id = %(version_id)s, size_bytes = %(size)s,
               event_time = %(event_time)s, arrived_at = now()
         WHERE bucket = %(bucket)s AND key = %(key)s AND etag IS NULL
        RETURNING upload_id
    )
    UPDATE uploads
       SET storage_uri = %(uri)s, size_bytes = coalesce(%(size)s, size_bytes), updated_at = now()
     WHERE id = (SELECT upload_id FROM arrived)
    RETURNING {columns}
"""

_FIND_OBJECT = """
    SELECT {columns} FROM s3_objects o JOIN uploads u ON u.id = o.upload_id
     WHERE o.bucket = %(bucket)s AND o.key = %(key)s
       AND o.etag = %(etag)s AND o.version_id IS NOT DISTINCT FROM %(version_id)s
"""

_NEW_S3_UPLOAD = """
    INSERT INTO uploads (id, filename, source, size_bytes, storage_uri, max_error_rate, review)
    VALUES (%(upload_id)s, %(filename)s, 's3', %(size)s, %(uri)s, %(max_error_rate)s,
            %(review)s)
    RETURNING {columns}
"""

_NEW_OBJECT = """
    INSERT INTO s3_objects (upload_id, bucket, key, etag, version_id, size_bytes, event_time,
                            arrived_at)
    VALUES (%(upload_id)s, %(bucket)s, %(key)s, %(etag)s, %(version_id)s, %(size)s,
            %(event_time)s, CASE WHEN %(etag)s::text IS NULL THEN NULL ELSE now() END)
    ON CONFLICT DO NOTHING
    RETURNING upload_id
"""


def find_s3_upload(conn: psycopg.Connection, obj: ObjectVersion) -> Upload | None:
    """The upload of one S3 object version, if its event has been seen."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        return cur.execute(_upload_sql(_FIND_OBJECT, "u"), _object_params(obj)).fetchone()


@dataclass
class S3Registration:
    upload: Upload
    created: bool  # False: a presigned upload's object arrived, or the event was seen before


def register_s3_object(
    conn: psycopg.Connection,
    obj: ObjectVersion,
    *,
    filename: str,
    max_error_rate: float | None,
    review: bool = False,
) -> S3Registration:
    """The upload of this object: the presigned upload awaiting its key (it arrives), the
    upload of an earlier delivery of the same event, or a new one. `obj.etag` must be known."""
    assert obj.etag, "an S3 object is identified by its ETag"
    params = _object_params(obj, max_error_rate=max_error_rate, filename=filename, review=review)
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        for _ in range(3):  # each pass settles a race with a concurrent delivery
            with conn.transaction():
                cur.execute(_upload_sql(_ARRIVE_PRESIGNED), params)
                if (arrived := cur.fetchone()) is not None:
                    logger.info("presigned upload arrived", extra={"upload_id": str(arrived.id)})
                    return S3Registration(arrived, created=False)
                cur.execute(_upload_sql(_FIND_OBJECT, "u"), params)
                if (seen := cur.fetchone()) is not None:
                    return S3Registration(seen, created=False)
            with conn.transaction():
                upload_id = uuid.uuid4()
                cur.execute(_upload_sql(_NEW_S3_UPLOAD), {**params, "upload_id": upload_id})
                upload = cur.fetchone()
                with conn.cursor() as plain:
                    if plain.execute(_NEW_OBJECT, {**params, "upload_id": upload_id}).fetchone():
                        assert upload is not None
                        logger.info(
                            "s3 object registered",
                            extra={"upload_id": str(upload_id), "key": obj.key},
                        )
                        return S3Registration(upload, created=True)
                raise psycopg.Rollback()  # a concurrent delivery registered it: find theirs
    raise RuntimeError(f"could not register s3 object {obj.uri}")  # pragma: no cover


def register_presigned_upload(
    conn: psycopg.Connection,
    *,
    upload_id: uuid.UUID,
    filename: str,
    size: int,
    bucket: str,
    key: str,
    max_error_rate: float | None,
    review: bool = False,
) -> Upload:
    """A `pending` upload awaiting its object at `bucket/key`: no storage_uri yet (there is
    nothing to read until the object's event arrives)."""
    obj = ObjectVersion(bucket=bucket, key=key)
    with conn.transaction(), conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _upload_sql(_NEW_S3_UPLOAD),
            _object_params(
                obj,
                upload_id=upload_id,
                filename=filename,
                size=size,
                uri=None,
                max_error_rate=max_error_rate,
                review=review,
            ),
        )
        upload = cur.fetchone()
        cur.execute(_NEW_OBJECT, _object_params(obj, upload_id=upload_id))
    assert upload is not None
    return upload
