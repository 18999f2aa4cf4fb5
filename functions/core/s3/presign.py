"""Presigned uploads: files larger than an HTTP request may carry go straight to the bucket.

`create_presigned_upload` records a `pending` upload awaiting its object and signs a POST form
that puts a file of at most the declared size at the key the record expects. The object's event
then reaches the ingest function (functions/core/s3/intake.py) for that same upload.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from functions.core.config import get_settings
from functions.core.errors import MovieDbError
from functions.core.ingest.filenames import key_filename
from functions.core.s3.client import presign_client
from functions.core.storage import UploadTooLarge
from functions.core.uploads.records import Upload, register_presigned_upload

logger = logging.getLogger(__name__)


@dataclass
class S3NotConfigured(MovieDbError):
    def __str__(self) -> str:
        return "S3 uploads are not available: no bucket is configured (S3_BUCKET)"


@dataclass(frozen=True)
class PresignedUpload:
    upload: Upload
    bucket: str
    key: str
    url: str
    fields: dict[str, str]
    expires_at: datetime


def create_presigned_upload(
    conn: psycopg.Connection, *, filename: str, size: int, review: bool = False
) -> PresignedUpload:
    """A `pending` upload record awaiting its object, and a presigned POST form that puts a file
    of at most `size` bytes at the key the record expects."""
    settings = get_settings()
    if not settings.s3_bucket:
        raise S3NotConfigured()
    if size > settings.max_upload_bytes:
        raise UploadTooLarge(settings.max_upload_bytes)
    name = key_filename(filename)
    upload_id = uuid.uuid4()
    key = f"{settings.s3_incoming_prefix}{upload_id}/{name}"
    upload = register_presigned_upload(
        conn,
        upload_id=upload_id,
        filename=name,
        size=size,
        bucket=settings.s3_bucket,
        key=key,
        max_error_rate=settings.max_error_rate,
        review=review,
    )
    expires = settings.s3_presign_expires_seconds
    post = presign_client().generate_presigned_post(
        settings.s3_bucket,
        key,
        Conditions=[["content-length-range", 1, size]],
        ExpiresIn=expires,
    )
    logger.info("presigned upload created", extra={"upload_id": str(upload_id), "key": key})
    return PresignedUpload(
        upload=upload,
        bucket=settings.s3_bucket,
        key=key,
        url=post["url"],
        fields=post["fields"],
        expires_at=datetime.now(UTC) + timedelta(seconds=expires),
    )
