"""Upload records: the single source of truth for every upload, whichever door it came through.

An upload is `pending` when accepted, `processing` while a worker holds its lease, then
`completed` or `failed`. A worker's lease is renewed by heartbeats; one that expires (the worker
died) lets another worker take the upload over.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from functions.core.errors import UploadNotFound

logger = logging.getLogger(__name__)


@dataclass
class Upload:
    id: uuid.UUID
    filename: str
    source: str
    content_sha256: str | None
    size_bytes: int | None
    storage_uri: str | None
    status: str
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

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


@dataclass
class NewUpload:
    filename: str
    source: str
    content_sha256: str | None = None
    size_bytes: int | None = None
    storage_uri: str | None = None
    max_error_rate: float | None = None


@dataclass
class Registration:
    upload: Upload
    created: bool  # False: the same content was already registered as `upload`
    replaced_uri: str | None = None  # a failed earlier upload's old file, now superseded


def register_upload(conn: psycopg.Connection, new: NewUpload) -> Registration:
    """Record an accepted file, or return the earlier upload of the same content."""
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            """
            INSERT INTO uploads (filename, source, content_sha256, size_bytes, storage_uri,
                                 max_error_rate)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (content_sha256) DO NOTHING
            RETURNING *
            """,
            (
                new.filename,
                new.source,
                new.content_sha256,
                new.size_bytes,
                new.storage_uri,
                new.max_error_rate,
            ),
        )
        row = cur.fetchone()
        if row is not None:
            logger.info("upload registered", extra={"upload_id": str(row.id)})
            return Registration(row, created=True)
        cur.execute("SELECT * FROM uploads WHERE content_sha256 = %s", (new.content_sha256,))
        existing = cur.fetchone()
        if existing is not None and existing.status == "failed" and new.storage_uri:
            # Its retry reads the copy just sent: the old one may be gone (a moved file).
            cur.execute(
                "UPDATE uploads SET storage_uri = %s, updated_at = now()"
                " WHERE id = %s AND status = 'failed' RETURNING *",
                (new.storage_uri, existing.id),
            )
            if (retried := cur.fetchone()) is not None:
                return Registration(retried, created=False, replaced_uri=existing.storage_uri)
    if existing is None:  # deleted between the two statements: register again
        return register_upload(conn, new)
    return Registration(existing, created=False)


def delete_pending_upload(conn: psycopg.Connection, upload_id: uuid.UUID) -> str | None:
    """Forget an upload no one has started (its job could not be queued); return where its
    file is stored, for the caller to delete. None when it is gone or already started."""
    row = conn.execute(
        "DELETE FROM uploads WHERE id = %s AND status = 'pending' RETURNING storage_uri",
        (upload_id,),
    ).fetchone()
    return row[0] if row else None


def get_upload(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute("SELECT * FROM uploads WHERE id = %s", (str(upload_id),))
        row = cur.fetchone()
    if row is None:
        raise UploadNotFound(str(upload_id))
    return row


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
    statuses = ["pending", "processing"] + (["failed"] if retry_failed else [])
    with conn.transaction(), conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            """
            UPDATE uploads
               SET status = 'processing', attempts = attempts + 1, lease_owner = %(worker)s,
                   lease_expires_at = now() + make_interval(secs => %(lease)s),
                   started_at = now(), finished_at = NULL, error = NULL,
                   rows_read = 0, bytes_read = 0, updated_at = now()
             WHERE id = %(id)s
               AND status = ANY(%(statuses)s)
               AND (status <> 'processing' OR lease_expires_at IS NULL
                    OR lease_expires_at < now() OR lease_owner IN (%(worker)s, %(dead)s))
            RETURNING *
            """,
            {
                "id": str(upload_id),
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


def renew_lease(
    conn: psycopg.Connection,
    upload_id: uuid.UUID,
    *,
    worker: str,
    lease_seconds: int,
    rows_read: int,
    bytes_read: int,
) -> bool:
    """Heartbeat with progress. False when the lease was lost to another worker."""
    cur = conn.execute(
        """
        UPDATE uploads
           SET rows_read = %s, bytes_read = %s, updated_at = now(),
               lease_expires_at = now() + make_interval(secs => %s)
         WHERE id = %s AND status = 'processing' AND lease_owner = %s
        """,
        (rows_read, bytes_read, lease_seconds, upload_id, worker),
    )
    return cur.rowcount == 1


def mark_failed(
    conn: psycopg.Connection, upload_id: uuid.UUID, *, worker: str | None, error: str
) -> None:
    """Record a failure, unless another worker has since taken the upload over."""
    conn.execute(
        """
        UPDATE uploads
           SET status = 'failed', error = %s, finished_at = now(), updated_at = now(),
               lease_owner = NULL, lease_expires_at = NULL
         WHERE id = %s AND status <> 'completed'
           AND (lease_owner IS NOT DISTINCT FROM %s OR status = 'pending')
        """,
        (error, upload_id, worker),
    )


def unfinished_upload_ids(conn: psycopg.Connection) -> list[uuid.UUID]:
    """Uploads accepted but not finished: pending, or processing (possibly by a dead worker).
    A presigned upload still waiting for its file is not among them."""
    rows = conn.execute(
        "SELECT id FROM uploads WHERE status IN ('pending', 'processing')"
        " AND storage_uri IS NOT NULL ORDER BY created_at"
    ).fetchall()
    return [row[0] for row in rows]


REJECTION_FIELDS = ("line", "column", "reason", "raw_record")


def iter_rejections(
    conn: psycopg.Connection, upload_id: uuid.UUID | str
) -> Iterator[tuple[int, str | None, str, str]]:
    """The upload's rejected rows in file order: (line, column, reason, raw record)."""
    get_upload(conn, upload_id)  # raises UploadNotFound
    with conn.cursor(name="rejections") if not conn.autocommit else conn.cursor() as cur:
        cur.execute(
            "SELECT line, column_name, reason, raw_record FROM upload_rejections"
            " WHERE upload_id = %s ORDER BY line",
            (str(upload_id),),
        )
        yield from cur
