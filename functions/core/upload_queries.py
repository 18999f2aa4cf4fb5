"""Reading upload records for the API: the newest-first listing and the rejects download."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row

from functions.core.db import connect
from functions.core.uploads import REJECTION_FIELDS, Upload, iter_rejections

REJECTS_BATCH_ROWS = 1000


@dataclass
class UploadPage:
    items: list[Upload]
    total: int


def list_uploads(
    conn: psycopg.Connection, *, page: int, page_size: int, status: str | None = None
) -> UploadPage:
    """Uploads newest first (ties broken by id, so pages never overlap)."""
    where = "WHERE status = %(status)s" if status else ""
    params = {"status": status, "limit": page_size, "offset": (page - 1) * page_size}
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            f"SELECT * FROM uploads {where}"
            " ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        items = cur.fetchall()
    total = conn.execute(f"SELECT count(*) FROM uploads {where}", params).fetchone()
    return UploadPage(items, total[0] if total else 0)


def rejects_csv(upload_id: uuid.UUID) -> Iterator[bytes]:
    """The upload's rejected rows as CSV (line, column, reason, raw_record), in batches.

    Reads through a server-side cursor on a connection of its own, so memory stays flat
    however many rows were rejected. Raises UploadNotFound before the first byte.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REJECTION_FIELDS)
    with connect(autocommit=False) as conn:
        rows = iter_rejections(conn, upload_id)
        for count, row in enumerate(rows, start=1):
            writer.writerow(row)
            if count % REJECTS_BATCH_ROWS == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue().encode()
