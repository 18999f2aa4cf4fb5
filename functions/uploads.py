"""What became of each upload, and what people do with it: GET /uploads, GET /uploads/{id},
GET /uploads/{id}/rejects, GET /uploads/{id}/changes; POST /uploads/{id}/publish, /cancel,
/revert (behind the API key)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from functions.core.db import get_pool
from functions.core.ingest.dispatch import dispatcher
from functions.core.ingest.review import cancel, change_set, publish_validated, revert
from functions.core.uploads.records import Upload, get_upload, list_uploads, rejects_csv
from functions.core.uploads.status import WITH_COUNTS, Status
from functions.web import ApiKeyRequired, api_url, error_responses, lambda_handler
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


class UploadList(BaseModel):
    items: list[UploadStatus]
    total: int
    page: int
    page_size: int


def upload_status(request: Request, upload: Upload) -> UploadStatus:
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
        status_url=api_url(request, f"/uploads/{upload.id}"),
        rejects_url=api_url(request, f"/uploads/{upload.id}/rejects"),
        changes_url=api_url(request, f"/uploads/{upload.id}/changes"),
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


class FieldChange(BaseModel):
    before: Any
    after: Any


class ChangeItem(BaseModel):
    title: str
    release_date: date | None
    original_language: str | None
    movie_id: int | None = Field(description="The movie's id (null: not inserted yet).")
    changes: dict[str, FieldChange] | None = Field(
        default=None, description="Updated movies: every changed field, before and after."
    )


class ChangeList(BaseModel):
    change: Literal["inserted", "updated"]
    items: list[ChangeItem]
    total: int = Field(description="Exact number of movies with this change.")
    page: int
    page_size: int


CHANGE_CSV_FIELDS = (
    "title",
    "release_date",
    "original_language",
    "movie_id",
    "field",
    "before",
    "after",
)


def _changes_csv(items: list[dict[str, Any]]) -> str:
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


@router.get(
    "/uploads/{upload_id}/changes",
    summary="The change set of an upload: the movies it inserts or updates",
    response_model=ChangeList,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(404, 409, 422, 503),
    },
)
def changes(
    upload_id: UploadId,
    conn: ConnectionDep,
    change: Annotated[
        Literal["inserted", "updated"], Query(description="Which movies: inserted or updated.")
    ] = "inserted",
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000, description="Movies per page.")] = 100,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    """For a `validated` upload, what its publish would do against the catalogue now; for a
    `completed` or `reverted` one, what its publish did. One item per movie: its natural key,
    its id where it exists, and for updates every changed field before and after."""
    found = change_set(conn, upload_id, change, page=page, page_size=page_size)
    if format == "csv":
        return Response(
            _changes_csv(found.items),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="changes-{upload_id}-{change}.csv"'
            },
        )
    body = ChangeList(
        change=change,
        items=[ChangeItem.model_validate(item) for item in found.items],
        total=found.total,
        page=page,
        page_size=page_size,
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.post(
    "/uploads/{upload_id}/publish",
    summary="Publish a validated upload",
    status_code=202,
    dependencies=[ApiKeyRequired],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def publish_upload(
    request: Request, upload_id: UploadId, conn: ConnectionDep, use_celery: bool = False
) -> UploadStatus:
    """202: the upload is `publishing`; poll its `status_url` until `completed`. When the
    catalogue changed since validation, the change set is computed again and the final counts
    say what really happened. 409 `upload_not_publishable` unless it is `validated`."""
    upload = publish_validated(conn, upload_id, dispatcher(use_celery=use_celery))
    return upload_status(request, upload)


@router.post(
    "/uploads/{upload_id}/cancel",
    summary="Cancel an upload before it is published",
    dependencies=[ApiKeyRequired],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def cancel_upload(request: Request, upload_id: UploadId, conn: ConnectionDep) -> UploadStatus:
    """A `pending`, `processing` or `validated` upload becomes `cancelled` (a running one stops
    within seconds); nothing of it is published. 409 `upload_not_cancellable` otherwise."""
    return upload_status(request, cancel(conn, upload_id))


@router.post(
    "/uploads/{upload_id}/revert",
    summary="Undo a completed upload",
    dependencies=[ApiKeyRequired],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
def revert_upload(request: Request, upload_id: UploadId, conn: ConnectionDep) -> UploadStatus:
    """In one transaction, every movie the upload inserted is removed and every movie it updated
    gets back its values before. 409 `revert_conflict` (naming the uploads) when a later upload
    changed one of the same movies: revert those first. Reverting twice changes nothing."""
    return upload_status(request, revert(conn, upload_id))


handler = lambda_handler(router)
