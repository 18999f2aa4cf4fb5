"""The S3 door: objects that land in the bucket's incoming prefix become uploads and are ingested.

Two ways in, one record per object:
- a presigned upload (`create_presigned_upload`): the upload record is created first, `pending`
  with the key it expects and no `storage_uri` yet (nothing to read); the object's first event
  fills in its ETag and storage URI, and that same record is ingested;
- a file dropped in the bucket by hand: its first event creates an upload record of its own.

S3 events arrive at least once. An object is recognised by bucket + key + ETag + version id
(table `s3_objects`), so a second delivery finds the upload of the first and
`run_upload` (idempotent) changes nothing. S3 uploads leave `uploads.content_sha256` NULL:
nothing has read the object when its event arrives.

The object is read by `run_upload` through `open_stored("s3://bucket/key")`: a streaming
GET, never a download to disk.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

import psycopg
from psycopg.rows import class_row

from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.errors import MovieDbError
from functions.core.ingestion import run_upload
from functions.core.storage import UploadTooLarge, s3_client
from functions.core.uploads import Upload

logger = logging.getLogger(__name__)

MAX_FILENAME_CHARS = 120


# --- errors ------------------------------------------------------------------------------------


@dataclass
class S3NotConfigured(MovieDbError):
    def __str__(self) -> str:
        return "S3 uploads are not available: no bucket is configured (S3_BUCKET)"


@dataclass
class InvalidFilename(MovieDbError, ValueError):
    filename: str

    def __str__(self) -> str:
        return f"{self.filename!r} is not a usable file name"


@dataclass
class MalformedEvent(MovieDbError):
    """An event (or SQS message body) that is not an S3 notification we can read."""

    reason: str

    def __str__(self) -> str:
        return f"not an S3 event notification: {self.reason}"


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


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Object:
    """One object an S3 `ObjectCreated` event is about (key decoded)."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    size: int | None = None
    event_name: str = "ObjectCreated:Put"
    event_time: datetime | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def _event_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def s3_objects(notification: dict[str, Any]) -> list[S3Object]:
    """The created objects of an S3 event notification. `s3:TestEvent` (sent when a bucket's
    notifications are configured) and events other than ObjectCreated give none."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    records = notification.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("no Records list")
    objects = []
    for record in records:
        try:
            if record.get("eventSource") != "aws:s3":
                raise MalformedEvent(f"event source {record.get('eventSource')!r}")
            name = str(record.get("eventName", ""))
            if not name.startswith("ObjectCreated:"):
                logger.info("event skipped", extra={"event_name": name})
                continue
            s3 = record["s3"]
            obj = s3["object"]
            etag = obj.get("eTag") or obj.get("etag")
            objects.append(
                S3Object(
                    bucket=s3["bucket"]["name"],
                    key=unquote_plus(obj["key"]),
                    etag=etag.strip('"') if etag else None,
                    version_id=obj.get("versionId") or None,
                    size=obj.get("size"),
                    event_name=name,
                    event_time=_event_time(record.get("eventTime")),
                )
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise MalformedEvent(f"record without {e}") from e
    return objects


def s3_objects_in_message(body: str) -> list[S3Object]:
    """The created objects of an SQS message body: an S3 notification, possibly wrapped in an
    SNS envelope (S3 -> SNS -> SQS)."""
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise MalformedEvent("the message body is not JSON") from e
    if not isinstance(payload, dict):
        raise MalformedEvent("the message body is not a JSON object")
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return s3_objects_in_message(payload["Message"])
    return s3_objects(payload)


def is_sqs_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


# --- records -----------------------------------------------------------------------------------

_ARRIVE_PRESIGNED = """
    WITH arrived AS (
        UPDATE s3_objects
           SET etag = %(etag)s, version_id = %(version_id)s, size_bytes = %(size)s,
               event_time = %(event_time)s, arrived_at = now()
         WHERE bucket = %(bucket)s AND key = %(key)s AND etag IS NULL
        RETURNING upload_id
    )
    UPDATE uploads
       SET storage_uri = %(uri)s, size_bytes = coalesce(%(size)s, size_bytes), updated_at = now()
     WHERE id = (SELECT upload_id FROM arrived)
    RETURNING *
"""

_FIND_OBJECT = """
    SELECT u.* FROM s3_objects o JOIN uploads u ON u.id = o.upload_id
     WHERE o.bucket = %(bucket)s AND o.key = %(key)s
       AND o.etag = %(etag)s AND o.version_id IS NOT DISTINCT FROM %(version_id)s
"""

_NEW_UPLOAD = """
    INSERT INTO uploads (id, filename, source, size_bytes, storage_uri, max_error_rate)
    VALUES (%(upload_id)s, %(filename)s, 's3', %(size)s, %(uri)s, %(max_error_rate)s)
    RETURNING *
"""

_NEW_OBJECT = """
    INSERT INTO s3_objects (upload_id, bucket, key, etag, version_id, size_bytes, event_time,
                            arrived_at)
    VALUES (%(upload_id)s, %(bucket)s, %(key)s, %(etag)s, %(version_id)s, %(size)s,
            %(event_time)s, CASE WHEN %(etag)s::text IS NULL THEN NULL ELSE now() END)
    ON CONFLICT DO NOTHING
    RETURNING upload_id
"""


def _params(obj: S3Object, **extra: Any) -> dict[str, Any]:
    return {
        "bucket": obj.bucket,
        "key": obj.key,
        "etag": obj.etag,
        "version_id": obj.version_id,
        "size": obj.size,
        "event_time": obj.event_time,
        "uri": obj.uri,
        **extra,
    }


def find_s3_upload(
    conn: psycopg.Connection,
    *,
    bucket: str,
    key: str,
    etag: str,
    version_id: str | None = None,
) -> Upload | None:
    """The upload of one S3 object (version), if its event has been seen."""
    obj = S3Object(bucket=bucket, key=key, etag=etag, version_id=version_id)
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        return cur.execute(_FIND_OBJECT, _params(obj)).fetchone()


@dataclass
class S3Registration:
    upload: Upload
    created: bool  # False: a presigned upload's object arrived, or the event was seen before


def register_s3_object(
    conn: psycopg.Connection, obj: S3Object, *, max_error_rate: float | None = None
) -> S3Registration:
    """The upload of this object: the presigned upload awaiting its key, the upload of an
    earlier delivery of the same event, or a new one. `obj.etag` must be known."""
    if not obj.etag:
        raise MalformedEvent(f"no ETag for s3 key {obj.key!r}")
    params = _params(obj, max_error_rate=max_error_rate)
    with conn.cursor(row_factory=class_row(Upload)) as cur:
        for _ in range(3):  # each pass settles a race with a concurrent delivery
            with conn.transaction():
                cur.execute(_ARRIVE_PRESIGNED, params)
                if (arrived := cur.fetchone()) is not None:
                    logger.info("presigned upload arrived", extra={"upload_id": str(arrived.id)})
                    return S3Registration(arrived, created=False)
                cur.execute(_FIND_OBJECT, params)
                if (seen := cur.fetchone()) is not None:
                    return S3Registration(seen, created=False)
            with conn.transaction():
                upload_id = uuid.uuid4()
                filename = obj.key.rsplit("/", 1)[-1] or obj.key
                cur.execute(_NEW_UPLOAD, {**params, "upload_id": upload_id, "filename": filename})
                upload = cur.fetchone()
                with conn.cursor() as plain:
                    if plain.execute(_NEW_OBJECT, {**params, "upload_id": upload_id}).fetchone():
                        assert upload is not None
                        logger.info(
                            "s3 object registered",
                            extra={"upload_id": str(upload_id), "key": obj.key},
                        )
                        return S3Registration(upload, created=True)
                raise psycopg.Rollback()  # a concurrent delivery registered it: find theirs
    raise RuntimeError(f"could not register s3 object {obj.uri}")  # pragma: no cover


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
    with connect() as conn:
        registration = register_s3_object(conn, obj, max_error_rate=settings.max_error_rate)
    upload = registration.upload
    log = {"upload_id": str(upload.id), "key": obj.key, "etag": obj.etag}
    if upload.status == "completed":
        logger.info("s3 object already ingested", extra=log)
        return upload
    # A failed upload is tried again: the event is being redelivered after a failure that may
    # have passed (database down, ...); a bad file simply fails again.
    upload = run_upload(upload.id, retry_failed=True)
    if upload.status == "failed":
        raise IngestionFailed(str(upload.id), obj.key, upload.error)
    if not upload.finished:
        raise UploadBusy(str(upload.id))
    return upload


# --- presigned uploads -------------------------------------------------------------------------


def safe_filename(filename: str) -> str:
    """A file name safe in an S3 key and for people: its last path part, letters, digits,
    `.`, `-`, `_` and spaces kept, the rest replaced, ending in `.csv` (the bucket notifies of
    `.csv` objects only). Raises InvalidFilename when nothing usable is left."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" ._-")
    stem = name[:-4] if name.lower().endswith(".csv") else name
    stem = stem.rstrip(" .")[: MAX_FILENAME_CHARS - 4].rstrip(" .")
    if not stem.strip("_"):
        raise InvalidFilename(filename)
    return f"{stem}.csv"


@dataclass(frozen=True)
class PresignedUpload:
    upload: Upload
    bucket: str
    key: str
    url: str
    fields: dict[str, str]
    expires_at: datetime


@lru_cache(maxsize=1)
def presign_client() -> Any:
    """The S3 client that signs presigned requests: for the endpoint clients reach."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    endpoint = settings.s3_public_endpoint_url or settings.aws_endpoint_url
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.aws_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "auto"},
        ),
    )


def create_presigned_upload(
    conn: psycopg.Connection, *, filename: str, size: int
) -> PresignedUpload:
    """A `pending` upload record awaiting its object, and a presigned POST form that puts a file
    of at most `size` bytes at the key the record expects."""
    settings = get_settings()
    if not settings.s3_bucket:
        raise S3NotConfigured()
    if size > settings.max_upload_bytes:
        raise UploadTooLarge(settings.max_upload_bytes)
    name = safe_filename(filename)
    upload_id = uuid.uuid4()
    key = f"{settings.s3_incoming_prefix}{upload_id}/{name}"
    with conn.transaction(), conn.cursor(row_factory=class_row(Upload)) as cur:
        cur.execute(
            _NEW_UPLOAD,
            {
                "upload_id": upload_id,
                "filename": name,
                "size": size,
                "uri": None,  # set when the object arrives: until then there is nothing to read
                "max_error_rate": settings.max_error_rate,
            },
        )
        upload = cur.fetchone()
        cur.execute(
            _NEW_OBJECT,
            _params(S3Object(bucket=settings.s3_bucket, key=key), upload_id=upload_id),
        )
    assert upload is not None
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
