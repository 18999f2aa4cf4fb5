"""S3 event notifications as the ingest function receives them: given directly (S3 -> Lambda),
wrapped in SQS messages (S3 -> SQS -> Lambda, the deployed shape), possibly inside an SNS
envelope; and the hand-off messages the API puts on the same queue for its own uploads
(`{"moviedb_upload": {"upload_id": ..., "retry_failed": ...}}`). Pure parsing, no I/O."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from functions.core.errors import MovieDbError
from functions.core.uploads.records import ObjectVersion

logger = logging.getLogger(__name__)

HANDOFF_KEY = "moviedb_upload"


@dataclass
class MalformedEvent(MovieDbError):
    """An event (or SQS message body) that is not an S3 notification we can read."""

    reason: str

    def __str__(self) -> str:
        return f"not an S3 event notification: {self.reason}"


@dataclass(frozen=True)
class S3Object(ObjectVersion):
    """One object an S3 `ObjectCreated` event is about (key decoded)."""

    event_name: str = "ObjectCreated:Put"


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


@dataclass(frozen=True)
class Handoff:
    """An upload the API accepted and handed to the ingest function through its queue."""

    upload_id: uuid.UUID
    retry_failed: bool = False


def handoff_message(upload_id: uuid.UUID, *, retry_failed: bool = False) -> str:
    """The SQS message body that hands an accepted upload to the ingest function."""
    return json.dumps({HANDOFF_KEY: {"upload_id": str(upload_id), "retry_failed": retry_failed}})


def _payload(body: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as e:
        raise MalformedEvent("the message body is not JSON") from e
    if not isinstance(payload, dict):
        raise MalformedEvent("the message body is not a JSON object")
    return payload


def read_message(body: str) -> Handoff | list[S3Object]:
    """What an SQS message of the ingest queue carries: an upload handed off by the API, or
    the created objects of an S3 notification (possibly wrapped in an SNS envelope:
    S3 -> SNS -> SQS)."""
    payload = _payload(body)
    if HANDOFF_KEY in payload:
        handoff = payload[HANDOFF_KEY]
        try:
            return Handoff(
                uuid.UUID(str(handoff["upload_id"])), bool(handoff.get("retry_failed", False))
            )
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedEvent(f"a hand-off without a valid upload_id: {e}") from e
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        inner = read_message(payload["Message"])
        if isinstance(inner, Handoff):
            raise MalformedEvent("a hand-off inside an SNS envelope")
        return inner
    return s3_objects(payload)


def s3_objects_in_message(body: str) -> list[S3Object]:
    """The created objects of an SQS message body that carries an S3 notification."""
    found = read_message(body)
    if isinstance(found, Handoff):
        raise MalformedEvent("a hand-off, not an S3 notification")
    return found


def is_sqs_event(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )
