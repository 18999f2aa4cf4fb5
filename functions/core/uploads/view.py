"""An upload as the API shows it: the one shape `GET /api/v1/uploads/{id}` answers, and that
every event about the upload carries (functions/core/events/)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from functions.core.uploads.records import Upload
from functions.core.uploads.status import WITH_COUNTS, Status


class UploadCounts(BaseModel):
    """What became of each record; `received = inserted + updated + unchanged + rejected`."""

    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


class RevertCounts(BaseModel):
    removed: int = Field(description="Movies the upload had inserted, removed.")
    restored: int = Field(description="Movies the upload had updated, back to their values.")


class UploadProgress(BaseModel):
    rows_read: int = Field(description="Records read so far (updated every few seconds).")
    bytes_read: int = Field(description="Bytes of the file read so far.")
    fraction: float | None = Field(
        description="bytes_read / size_bytes, from 0 to 1 (null when the size is unknown)."
    )


class UploadStatus(BaseModel):
    upload_id: uuid.UUID
    filename: str
    source: str = Field(description="How it arrived: `api`, `cli` or `s3`.")
    status: Status
    size_bytes: int | None
    content_sha256: str | None
    progress: UploadProgress
    review: bool = Field(description="Stops at `validated` for a review before it is published.")
    counts: UploadCounts | None = Field(
        description="Set once validated: what the publish does (validated), did (completed, "
        "reverted)."
    )
    reverted: RevertCounts | None = Field(description="What the revert undid, once reverted.")
    ignored_columns: list[str] = Field(description="Columns of the file that are not loaded.")
    error_code: str | None = Field(
        default=None,
        description="Why the upload failed, a stable name: `invalid_csv_header`, "
        "`unsupported_line_endings`, `too_many_rejected_rows`, `stored_file_missing`, "
        "`storage_unavailable`, `database_unavailable`, `internal_error`.",
    )
    error: str | None = Field(description="Why the upload failed, for people.")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    validated_at: datetime | None
    published_at: datetime | None
    cancelled_at: datetime | None
    reverted_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    status_url: str
    rejects_url: str = Field(description="The rejected rows as CSV.")
    changes_url: str = Field(description="The change set: what the upload changes or changed.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "upload_id": "3f0b6a52-9c1d-4e57-8a0e-5b6c7d8e9f10",
                    "filename": "movies.csv",
                    "source": "api",
                    "status": "completed",
                    "size_bytes": 4493,
                    "content_sha256": "ed281c294549011341f0d724943df2f0"
                    "8207559463b452474d0e41c92d99f870",
                    "progress": {"rows_read": 10, "bytes_read": 4493, "fraction": 1.0},
                    "counts": {
                        "received": 10,
                        "inserted": 9,
                        "updated": 0,
                        "unchanged": 0,
                        "rejected": 1,
                    },
                    "ignored_columns": [],
                    "error": None,
                    "attempts": 1,
                    "created_at": "2026-11-30T11:04:21.352627Z",
                    "started_at": "2026-11-30T11:04:21.367785Z",
                    "finished_at": "2026-11-30T11:04:21.385974Z",
                    "updated_at": "2026-11-30T11:04:21.385974Z",
                    "status_url": "http://127.0.0.1:8000/api/v1/uploads/"
                    "3f0b6a52-9c1d-4e57-8a0e-5b6c7d8e9f10",
                    "rejects_url": "http://127.0.0.1:8000/api/v1/uploads/"
                    "3f0b6a52-9c1d-4e57-8a0e-5b6c7d8e9f10/rejects",
                }
            ]
        }
    }


def upload_view(upload: Upload, api_base: str) -> UploadStatus:
    """The upload as the API shows it (`api_base`: the API's URL, e.g.
    `https://host/api/v1`, for the links)."""
    counts = None
    if upload.status in WITH_COUNTS and upload.received is not None:
        counts = UploadCounts(
            received=upload.received,
            inserted=upload.inserted or 0,
            updated=upload.updated or 0,
            unchanged=upload.unchanged or 0,
            rejected=upload.rejected or 0,
        )
    fraction = None
    if upload.size_bytes:
        fraction = min(1.0, upload.bytes_read / upload.size_bytes)
    return UploadStatus(
        upload_id=upload.id,
        filename=upload.filename,
        source=upload.source,
        status=upload.status,
        size_bytes=upload.size_bytes,
        content_sha256=upload.content_sha256,
        progress=UploadProgress(
            rows_read=upload.rows_read, bytes_read=upload.bytes_read, fraction=fraction
        ),
        review=upload.review,
        counts=counts,
        reverted=(
            RevertCounts(removed=upload.removed or 0, restored=upload.restored or 0)
            if upload.status == Status.REVERTED
            else None
        ),
        ignored_columns=upload.ignored_columns,
        error_code=upload.error_code,
        error=upload.error,
        attempts=upload.attempts,
        created_at=upload.created_at,
        started_at=upload.started_at,
        validated_at=upload.validated_at,
        published_at=upload.published_at,
        cancelled_at=upload.cancelled_at,
        reverted_at=upload.reverted_at,
        finished_at=upload.finished_at,
        updated_at=upload.updated_at,
        status_url=f"{api_base}/uploads/{upload.id}",
        rejects_url=f"{api_base}/uploads/{upload.id}/rejects",
        changes_url=f"{api_base}/uploads/{upload.id}/changes",
    )
