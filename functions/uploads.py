"""What became of each upload, and what people do with it: GET /uploads, GET /uploads/{id},
GET /uploads/{id}/rejects, GET /uploads/{id}/changes; POST /uploads/{id}/publish, /cancel,
/revert (behind the API key)."""

from __future__ import annotations

import uuid
from datetime import date
from itertools import chain
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from functions.core.db import get_pool
from functions.core.events.stream import upload_stream
from functions.core.ingest.dispatch import dispatcher
from functions.core.ingest.review import (
    cancel,
    change_set,
    change_set_csv,
    publish_validated,
    revert,
)
from functions.core.uploads.records import Upload, get_upload, list_uploads, rejects_csv
from functions.core.uploads.status import FINISHED, Status
from functions.core.uploads.view import UploadStatus, upload_view
from functions.web import ApiKeyRequired, api_url, error_responses, lambda_handler
from functions.web.deps import ConnectionDep, ReadConnectionDep
from functions.web.links import UPLOAD_LINKS, link
from functions.web.parameters import IntegerText

router = APIRouter(tags=["Uploads"])

UploadId = Annotated[uuid.UUID, Path(description="The `upload_id` the upload was answered with.")]
PageNumber = Annotated[
    int, Query(ge=1, le=1_000_000, description="Page number, from 1."), IntegerText
]


# GET /uploads -> the newest upload of the page
UPLOAD_LIST_LINKS = {
    "newest": link(
        "GET /uploads/{upload_id}",
        "The first upload of the page.",
        upload_id="$response.body#/items/0/upload_id",
    )
}


class UploadList(BaseModel):
    items: list[UploadStatus]
    total: int
    page: int
    page_size: int


def upload_status(request: Request, upload: Upload) -> UploadStatus:
    return upload_view(upload, api_url(request, ""))


@router.get(
    "/uploads",
    summary="Uploads, newest first",
    responses={200: {"links": UPLOAD_LIST_LINKS}, **error_responses(422, 503)},
)
def uploads(
    request: Request,
    conn: ReadConnectionDep,
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(ge=1, le=100, description="Uploads per page."), IntegerText
    ] = 20,
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


class ProgressEvent(BaseModel):
    """The data of a `progress` event."""

    upload_id: uuid.UUID
    status: Status
    rows_read: int
    bytes_read: int
    fraction: float | None = Field(description="bytes_read / size_bytes (null: size unknown).")


def _event(names: list[str], data: dict[str, Any]) -> dict[str, Any]:
    """One Server-Sent Event as OpenAPI (before 3.2's `itemSchema`) describes an event stream's
    `schema`: its fields, `data` being JSON of the given schema."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": names},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


_progress = ProgressEvent.model_json_schema(ref_template="#/components/schemas/{model}")
_progress.pop("$defs")  # Status: a component already, as UploadStatus has it
EVENT_SCHEMA = {
    "oneOf": [
        _event(["progress"], _progress),
        _event(sorted(FINISHED), {"$ref": "#/components/schemas/UploadStatus"}),
    ]
}


@router.get(
    "/uploads/{upload_id}/events",
    summary="The upload's live events (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: `event: progress` (rows and bytes read) while "
            "it runs, then one event named after the status it ends in (validated, completed, "
            "failed, cancelled, reverted) with the upload as `GET /uploads/{id}` answers it; "
            "then the stream ends. After the end, that final event at once.",
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
        },
        **error_responses(404, 422, 503),
    },
)
def events(request: Request, upload_id: UploadId) -> StreamingResponse:
    # No ConnectionDep: a dependency's connection would be held for the whole stream.
    def read_upload() -> Upload:
        with get_pool().connection() as conn:  # one query, then the connection goes back
            return get_upload(conn, upload_id)

    read_upload()  # 404 before the stream starts

    return StreamingResponse(
        upload_stream(read_upload, api_url(request, "")),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
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
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(ge=1, le=1000, description="Movies per page."), IntegerText
    ] = 100,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv.")] = "json",
) -> Response:
    """For a `validated` upload, what its publish would do against the catalogue now; for a
    `completed` or `reverted` one, what its publish did. One item per movie: its natural key,
    its id where it exists, and for updates every changed field before and after."""
    found = change_set(conn, upload_id, change, page=page, page_size=page_size)
    if format == "csv":
        return Response(
            change_set_csv(found.items),
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
    responses={202: {"links": UPLOAD_LINKS}, **error_responses(401, 403, 404, 409, 422, 503)},
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
    responses={200: {"links": UPLOAD_LINKS}, **error_responses(401, 403, 404, 409, 422, 503)},
)
def cancel_upload(request: Request, upload_id: UploadId, conn: ConnectionDep) -> UploadStatus:
    """A `pending`, `processing` or `validated` upload becomes `cancelled` (a running one stops
    within seconds); nothing of it is published. 409 `upload_not_cancellable` otherwise."""
    return upload_status(request, cancel(conn, upload_id))


@router.post(
    "/uploads/{upload_id}/revert",
    summary="Undo a completed upload",
    dependencies=[ApiKeyRequired],
    responses={200: {"links": UPLOAD_LINKS}, **error_responses(401, 403, 404, 409, 422, 503)},
)
def revert_upload(request: Request, upload_id: UploadId, conn: ConnectionDep) -> UploadStatus:
    """In one transaction, every movie the upload inserted is removed and every movie it updated
    gets back its values before. 409 `revert_conflict` (naming the uploads) when a later upload
    changed one of the same movies: revert those first. Reverting twice changes nothing."""
    return upload_status(request, revert(conn, upload_id))


handler = lambda_handler(router)
