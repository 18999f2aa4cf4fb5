"""POST /upload: a movie CSV file in, streamed to storage, checked, answered at once (202).

The body is read as it arrives (never spooled whole by the framework): the multipart parser
hands the file's bytes to storage, which hashes and size-checks them on the way. The rows are
then processed by this process's ingestion threads, handed on by a background task (or, with
`use_celery=true`, by the Celery worker; on AWS Lambda by the ingest function, through its
queue).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.from_thread
from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from functions.core.ingest.dispatch import dispatcher, in_process
from functions.core.ingest.intake import dispatch_or_discard
from functions.web import ApiKeyRequired, api_url, error_responses, lambda_handler
from functions.web.forms import (
    CSV_CONTENT_TYPES,
    accept_multipart,
    body_chunks,
    declared_length,
    upload_slot,
)
from functions.web.links import UPLOAD_LINKS

router = APIRouter(tags=["Uploads"])


class UploadAccepted(BaseModel):
    upload_id: uuid.UUID
    status: str = Field(
        description="The upload's state: pending, processing, validated, publishing, completed, "
        "failed, cancelled, reverted."
    )
    status_url: str = Field(description="Poll this for progress and the outcome.")
    duplicate: bool = Field(
        description="True when the same content was uploaded before: the answer is that "
        "earlier upload, and nothing new is done (a failed one is run again)."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "upload_id": "3f0b6a52-9c1d-4e57-8a0e-5b6c7d8e9f10",
                    "status": "pending",
                    "status_url": "http://127.0.0.1:8000/api/v1/uploads/"
                    "3f0b6a52-9c1d-4e57-8a0e-5b6c7d8e9f10",
                    "duplicate": False,
                }
            ]
        }
    }


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The CSV file (TMDB export columns; header row "
                            "first). Sent as text/csv, or with a .csv file name.",
                        }
                    },
                },
                # The CSV types the part may declare (functions/web/forms.py; a generic type
                # such as application/octet-stream is taken too when the name ends in .csv).
                "encoding": {"file": {"contentType": ", ".join(sorted(CSV_CONTENT_TYPES))}},
            }
        },
    }
}


@router.post(
    "/upload",
    summary="Upload a movie CSV file",
    status_code=202,
    dependencies=[ApiKeyRequired],
    openapi_extra=UPLOAD_BODY,
    responses={
        202: {
            "model": UploadAccepted,
            "description": "Accepted: processing runs in the background; poll `status_url`.",
            "links": UPLOAD_LINKS,
        },
        200: {
            "model": UploadAccepted,
            "description": "The same content was uploaded before: "
            "`upload_id` is that upload's, nothing new is done.",
            "links": UPLOAD_LINKS,
        },
        **error_responses(400, 401, 403, 408, 413, 415, 422, 429, 503),
    },
)
@router.post("/upload/", status_code=202, dependencies=[ApiKeyRequired], include_in_schema=False)
async def upload_csv(
    request: Request,
    background_tasks: BackgroundTasks,
    use_celery: Annotated[
        bool,
        Query(
            description="true: processed by the Celery worker; false: by a background task "
            "of this server (the v1 parameter)."
        ),
    ] = False,
    review: Annotated[
        bool,
        Query(
            description="true: stop at `validated` with the counts the publish would give; look "
            "at `GET /uploads/{id}/changes`, then `POST /uploads/{id}/publish` (or `/cancel`). "
            "false (default): published as soon as it is validated."
        ),
    ] = False,
) -> JSONResponse:
    """Streams the file to storage while hashing and size-checking it; the header row is
    checked before the answer. 202 with the `upload_id` and a `status_url` to poll."""
    dispatch = dispatcher(use_celery=use_celery)
    with upload_slot():  # 429 too_many_uploads before a byte of the body is read
        acceptance = await anyio.to_thread.run_sync(
            partial(
                accept_multipart,
                body_chunks(request),  # 408 body_timeout when the body stalls
                request.headers.get("content-type", ""),
                declared_length=declared_length(request),
                review=review,
            )
        )
    upload = acceptance.upload
    if acceptance.needs_processing:
        if dispatch is in_process:
            # FastAPI's background task, after the answer; it only hands the upload to the
            # ingestion threads, so no request thread waits for an ingestion.
            background_tasks.add_task(dispatch_or_discard, acceptance, dispatch)
        else:
            await anyio.to_thread.run_sync(dispatch_or_discard, acceptance, dispatch)
    status_url = api_url(request, f"/uploads/{upload.id}")
    answer = UploadAccepted(
        upload_id=upload.id,
        status=upload.status,
        status_url=status_url,
        duplicate=not acceptance.created,
    )
    return JSONResponse(
        answer.model_dump(mode="json"),
        status_code=202 if acceptance.needs_processing else 200,
        headers={"Location": status_url},
    )


handler = lambda_handler(router)
