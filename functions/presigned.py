"""POST /uploads: a presigned S3 upload, for files too large for an API request.

API Gateway stops request bodies at 10 MB, so a large file goes straight to the bucket: this
creates the upload record (`pending`, awaiting its object) and answers a presigned POST form
for a key under the incoming prefix. The bucket's event then runs the ingestion on that same
record; `GET /uploads/{upload_id}` reports on it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictBool

from functions.core.ingest.filenames import key_filename
from functions.core.s3.presign import create_presigned_upload
from functions.web import (
    ApiKeyRequired,
    ErrorResponse,
    api_url,
    error_responses,
    lambda_handler,
)
from functions.web.deps import ConnectionDep
from functions.web.links import UPLOAD_LINKS

router = APIRouter(tags=["Uploads"])


def _json_number(value: object) -> object:
    """A JSON number, as documented: not a string of digits, not a boolean (pydantic's lax
    mode takes both for an int; 5.0 stays a valid integer, as JSON Schema has it)."""
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number")
    return value


class PresignedUploadRequest(BaseModel):
    filename: Annotated[
        str,
        Field(
            min_length=1,
            max_length=1024,
            examples=["movies.csv"],
            # what `key_filename` needs, as a pattern for the documentation (it stays the
            # validator): a letter or a digit in the last part of the name
            json_schema_extra={"pattern": r"[^\W_][^/\\]*$"},
        ),
        AfterValidator(lambda name: key_filename(name) and name),
    ] = Field(description="The file's name; the object is stored as `<name>.csv`.")
    size: Annotated[int, BeforeValidator(_json_number)] = Field(
        ge=1,
        description="The file's size in bytes. The form accepts no larger file; more than "
        "MAX_UPLOAD_BYTES is refused (413).",
        examples=[734_003_200],
    )
    review: StrictBool = Field(  # true or false: not 0, not "false"
        default=False,
        description="Stop at `validated` for a review before it is published (as "
        "`POST /upload?review=true`).",
    )


class PresignedUploadAnswer(BaseModel):
    upload_id: uuid.UUID
    status: str = Field(description="`pending` until the file arrives in the bucket.")
    status_url: str = Field(description="Poll this for progress and the outcome.")
    bucket: str
    key: str = Field(description="Where the file goes in the bucket.")
    method: str = Field(default="POST", description="Send the file with this HTTP method.")
    url: str = Field(description="Send a multipart/form-data POST here.")
    fields: dict[str, str] = Field(
        description="Form fields to send, in this order, before the file (field `file`, last)."
    )
    expires_at: datetime = Field(description="The form is refused by S3 after this time.")


@router.post(
    "/uploads",
    status_code=201,
    summary="Start a presigned upload (large files, straight to S3)",
    dependencies=[ApiKeyRequired],
    responses={
        201: {"links": UPLOAD_LINKS},
        **error_responses(401, 403, 413, 422),
        503: {
            "model": ErrorResponse,
            "description": "`s3_not_configured`: this deployment has no bucket (`S3_BUCKET`), so "
            "files go through `POST /upload`; or the database is unavailable.",
        },
    },
)
def presigned_upload(
    request: Request, body: PresignedUploadRequest, conn: ConnectionDep
) -> PresignedUploadAnswer:
    """Answers a presigned POST form for the bucket: send the file with it (e.g.
    `curl -F key=... -F ...every field... -F file=@movies.csv URL`). Once the file is in the
    bucket its rows are loaded; poll `status_url` for the outcome."""
    presigned = create_presigned_upload(
        conn, filename=body.filename, size=body.size, review=body.review
    )
    return PresignedUploadAnswer(
        upload_id=presigned.upload.id,
        status=presigned.upload.status,
        status_url=api_url(request, f"/uploads/{presigned.upload.id}"),
        bucket=presigned.bucket,
        key=presigned.key,
        url=presigned.url,
        fields=presigned.fields,
        expires_at=presigned.expires_at,
    )


handler = lambda_handler(router)
