"""The S3 door: objects that land in the bucket's incoming prefix become uploads and are ingested.

Two ways in, one record per object:
- a presigned upload (functions/core/s3/presign.py): the upload record is created first,
  `pending` with the key it expects and no `storage_uri` yet (nothing to read); the object's
  first event fills in its ETag and storage URI, and that same record is ingested;
- a file dropped in the bucket by hand: its first event creates an upload record of its own.

S3 events arrive at least once. An object is recognised by bucket + key + ETag + version id
(table `s3_objects`, functions/core/uploads/records.py), so a second delivery finds the upload
of the first and `run_upload` (idempotent) changes nothing. S3 uploads leave
`uploads.content_sha256` NULL: nothing has read the object when its event arrives.

The object is read by `run_upload` through `open_stored("s3://bucket/key")`: a streaming GET,
never a download to disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.errors import MovieDbError
from functions.core.ingest.pipeline import run_upload
from functions.core.s3.client import s3_client
from functions.core.s3.events import Handoff, MalformedEvent, S3Object
from functions.core.uploads.records import Upload, register_s3_object
from functions.core.uploads.status import Status

logger = logging.getLogger(__name__)


@dataclass
class IngestionFailed(MovieDbError):
    """The object was ingested and its upload `failed` (e.g. a bad header): reported to the
    event source as a failure, so the event is retried and then dead-lettered."""

    upload_id: str
    key: str
    error: str | None

    def __str__(self) -> str:
        return f"upload {self.upload_id} of s3 key {self.key!r} failed: {self.error}"


@dataclass
class UploadBusy(MovieDbError):
    """Another worker holds the upload under a live lease: try the event again later."""

    upload_id: str

    def __str__(self) -> str:
        return f"upload {self.upload_id} is being processed by another worker"


def _etag_of(obj: S3Object) -> S3Object:
    """The object with its ETag (and version) read from S3 when the event did not carry it."""
    if obj.etag:
        return obj
    head = s3_client().head_object(Bucket=obj.bucket, Key=obj.key)
    return S3Object(
        bucket=obj.bucket,
        key=obj.key,
        etag=head["ETag"].strip('"'),
        version_id=head.get("VersionId") or obj.version_id,
        size=head.get("ContentLength", obj.size),
        event_name=obj.event_name,
        event_time=obj.event_time,
    )


def ingest_s3_object(obj: S3Object) -> Upload | None:
    """Register the object's upload and run the ingestion on it; THE function the S3 door calls.

    Returns the completed upload, or None for an object outside the incoming prefix (not ours:
    the API stores its own uploads in the same bucket). Raises IngestionFailed when the upload
    failed, UploadBusy when another worker holds it, and lets other errors through: to the event
    source each is a failure to retry, then to dead-letter.
    """
    settings = get_settings()
    if not obj.key.startswith(settings.s3_incoming_prefix):
        logger.warning(
            "object outside the incoming prefix skipped",
            extra={"bucket": obj.bucket, "key": obj.key, "prefix": settings.s3_incoming_prefix},
        )
        return None
    obj = _etag_of(obj)
    if not obj.etag:
        raise MalformedEvent(f"no ETag for s3 key {obj.key!r}")
    filename = obj.key.rsplit("/", 1)[-1] or obj.key
    with connect() as conn:
        registration = register_s3_object(
            conn,
            obj,
            filename=filename,
            max_error_rate=settings.max_error_rate,
            review=obj.key.startswith(settings.s3_incoming_prefix + settings.s3_review_prefix),
        )
    upload = registration.upload
    log = {"upload_id": str(upload.id), "key": obj.key, "etag": obj.etag}
    if upload.status == Status.COMPLETED:
        logger.info("s3 object already ingested", extra=log)
        return upload
    # A failed upload is tried again: the event is being redelivered after a failure that may
    # have passed (database down, ...); a bad file simply fails again.
    upload = run_upload(upload.id, retry_failed=True)
    if upload.status == Status.FAILED:
        raise IngestionFailed(str(upload.id), obj.key, upload.error)
    if not upload.finished:
        raise UploadBusy(str(upload.id))
    return upload


def ingest_handoff(handoff: Handoff) -> Upload:
    """Ingest an upload the API handed to the ingest function (on AWS, through its queue).
    Raises IngestionFailed when it failed and UploadBusy when another worker holds it, like an
    S3 object: the message is then retried, and dead-lettered in the end."""
    upload = run_upload(handoff.upload_id, retry_failed=handoff.retry_failed)
    if upload.status == Status.FAILED:
        raise IngestionFailed(str(upload.id), upload.filename, upload.error)
    if not upload.finished and upload.storage_uri is not None:
        raise UploadBusy(str(upload.id))
    return upload
