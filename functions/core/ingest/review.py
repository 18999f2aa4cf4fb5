"""What people do with an upload after it was staged: look at its change set, publish it,
cancel it, revert it. Each is one call for the API and the CLI alike."""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from functions.core.catalogue.columns import NATURAL_KEY
from functions.core.errors import MovieDbError
from functions.core.ingest import publish, staging
from functions.core.uploads.records import (
    Upload,
    UploadNotRevertible,
    cancel_upload,
    get_upload,
    lock_upload,
    mark_reverted,
    request_publish,
)
from functions.core.uploads.status import Status

logger = logging.getLogger(__name__)

CHANGE_KINDS = ("inserted", "updated")


@dataclass
class ChangeSetUnavailable(MovieDbError):
    """The upload has no change set to show: not staged yet, or it never had one."""

    upload_id: str
    status: str

    def __str__(self) -> str:
        return f"upload {self.upload_id} is {self.status}: it has no change set to show"


@dataclass
class ChangePage:
    items: list[dict[str, Any]]
    total: int


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """Every field whose value differs: `{field: {"before": ..., "after": ...}}`."""
    if before is None:
        return {}
    return {
        name: {"before": before.get(name), "after": value}
        for name, value in after.items()
        if name in staging.VALUE_COLUMNS and before.get(name) != value
    }


def change_set(
    conn: psycopg.Connection, upload_id: uuid.UUID | str, change: str, *, page: int, page_size: int
) -> ChangePage:
    """One page of what the upload changes (validated: what its publish would do now) or
    changed (completed, reverted): per movie its natural key, its id where it exists, and for
    updates every changed field before and after. `total` is exact."""
    upload = get_upload(conn, upload_id)
    offset = (page - 1) * page_size
    if upload.status in (Status.VALIDATED, Status.PUBLISHING) and staging.has_change_set(
        conn, upload.id
    ):
        rows, total = staging.staged_changes(
            conn, upload.id, change, limit=page_size, offset=offset
        )
    elif upload.status in (Status.COMPLETED, Status.REVERTED):
        rows, total = publish.published_changes(
            conn, upload.id, change, limit=page_size, offset=offset
        )
    else:
        raise ChangeSetUnavailable(str(upload.id), upload.status)
    items = []
    for row in rows:
        item: dict[str, Any] = {name: row[name] for name in NATURAL_KEY}
        item["movie_id"] = row["movie_id"]
        if change == "updated":
            item["changes"] = changed_fields(row["before"], row["after"])
        items.append(item)
    return ChangePage(items, total)


CHANGE_CSV_FIELDS = (
    "title",
    "release_date",
    "original_language",
    "movie_id",
    "field",
    "before",
    "after",
)


def change_set_csv(items: list[dict[str, Any]]) -> str:
    """A page of the change set as CSV: one line per changed field (one per movie inserted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CHANGE_CSV_FIELDS)
    for item in items:
        key = [item["title"], item["release_date"], item["original_language"], item["movie_id"]]
        fields = item.get("changes") or {}
        if not fields:
            writer.writerow([*key, "", "", ""])
        for name, values in fields.items():
            writer.writerow([*key, name, json.dumps(values["before"]), json.dumps(values["after"])])
    return buffer.getvalue()


def publish_validated(
    conn: psycopg.Connection, upload_id: uuid.UUID | str, dispatch: Callable[..., None]
) -> Upload:
    """A validated upload goes to `publishing` and is handed to whoever runs uploads (its
    publish computes the change set again when the catalogue changed since validation)."""
    upload = request_publish(conn, upload_id)
    dispatch(upload.id)
    logger.info("publish requested", extra={"upload_id": str(upload.id)})
    return upload


def cancel(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    """Cancel a pending, processing or validated upload: nothing of it is published. A running
    one stops at its worker's next heartbeat (its staging rolls back with it); a validated
    one's staging is dropped here."""
    cancelled, before = cancel_upload(conn, upload_id)
    if before == Status.VALIDATED:
        with conn.transaction(), conn.cursor() as cur:
            staging.drop(cur, cancelled.id)
    logger.info("upload cancelled", extra={"upload_id": str(cancelled.id), "was": before})
    return cancelled


def revert(conn: psycopg.Connection, upload_id: uuid.UUID | str) -> Upload:
    """Undo a completed upload in one transaction: the movies it inserted are removed, the ones
    it updated get their values back. Reverting a reverted upload changes nothing. Raises
    RevertConflict (a later upload changed the same movies), RevertUnavailable (history gone),
    UploadNotRevertible (not completed)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (publish.PUBLISH_LOCK,))
        upload = lock_upload(conn, upload_id)
        if upload.status == Status.REVERTED:
            return upload
        if upload.status != Status.COMPLETED:
            raise UploadNotRevertible(str(upload.id), upload.status, "reverted")
        changed = bool(upload.inserted or upload.updated)
        undone = publish.revert(cur, upload.id, changed_anything=changed)
        reverted = mark_reverted(conn, upload.id, removed=undone.removed, restored=undone.restored)
    logger.info(
        "upload reverted",
        extra={"upload_id": str(upload.id), "removed": undone.removed, "restored": undone.restored},
    )
    return reverted
