"""GET /uploads, GET /uploads/{id}, GET /uploads/{id}/rejects: what became of each upload."""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import chain
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from functions.core.db import get_pool
from functions.core.uploads.records import Upload, get_upload, list_uploads, rejects_csv
from functions.core.uploads.status import Status
from functions.web import api_url, error_responses, lambda_handler
from functions.web.deps import ConnectionDep

router = APIRouter(tags=["Uploads"])

UploadId = Annotated[uuid.UUID, Path(description="The `upload_id` the upload was answered with.")]


class UploadCounts(BaseModel):
    """What became of each record; `received = inserted + updated + unchanged + rejected`."""

    received: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int


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
    counts: UploadCounts | None = Field(description="Set once the upload completed.")
    ignored_columns: list[str] = Field(description="Columns of the file that are not loaded.")
    error: str | None = Field(description="Why the upload failed, when it did.")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    status_url: str
    rejects_url: str = Field(description="The rejected rows as CSV.")

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


class UploadList(BaseModel):
    items: list[UploadStatus]
    total: int
    page: int
    page_size: int


def upload_status(request: Request, upload: Upload) -> UploadStatus:
    counts = None
    if upload.status == Status.COMPLETED and upload.received is not None:
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
        counts=counts,
        ignored_columns=upload.ignored_columns,
        error=upload.error,
        attempts=upload.attempts,
        created_at=upload.created_at,
        started_at=upload.started_at,
        finished_at=upload.finished_at,
        updated_at=upload.updated_at,
        status_url=api_url(request, f"/uploads/{upload.id}"),
        rejects_url=api_url(request, f"/uploads/{upload.id}/rejects"),
    )


@router.get("/uploads", summary="Uploads, newest first", responses=error_responses(422, 503))
def uploads(
    request: Request,
    conn: ConnectionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Uploads per page.")] = 20,
    status: Annotated[Status | None, Query(description="Only uploads in this state.")] = None,
) -> UploadList:
    found = list_uploads(conn, page=page, page_size=page_size, status=status)
    return UploadList(
        items=[upload_status(request, u) for u in found.items],
        total=found.total,
        page=page,
        page_size=page_size,
    )


@router.get(
    "/uploads/{upload_id}",
    summary="One upload: status, progress, counts, error",
    responses=error_responses(404, 422, 503),
)
def upload(request: Request, upload_id: UploadId, conn: ConnectionDep) -> UploadStatus:
    return upload_status(request, get_upload(conn, upload_id))


@router.get(
    "/uploads/{upload_id}/rejects",
    summary="The rejected rows of an upload, as CSV",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV with the columns line, column, reason, raw_record "
            "(line: where the record starts in the file; the header is line 1).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **error_responses(404, 422, 503),
    },
)
def rejects(upload_id: UploadId) -> StreamingResponse:
    rows = rejects_csv(get_pool().connection, upload_id)
    first = next(rows)  # UploadNotFound (404) here, before the download starts
    return StreamingResponse(
        chain([first], rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rejects-{upload_id}.csv"'},
    )


handler = lambda_handler(router)
