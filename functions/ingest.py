"""Lambda `handler` of the ingest queue: CSV files landing in the bucket (S3 `ObjectCreated`
events, given directly (S3 -> Lambda) or wrapped in SQS messages (S3 -> SQS -> Lambda, the
deployed shape)), and uploads the API accepted over HTTP and handed off through the same queue.

Each object goes to `ingest_s3_object`, each hand-off to `ingest_handoff`
(functions/core/s3/intake.py). A failure — the upload `failed` (a bad file), is held by another
worker, or an error — is reported, never swallowed:
- SQS event: `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`, so only the failed
  messages are retried, and dead-lettered after the queue's maxReceiveCount
  (the function's event source mapping needs `ReportBatchItemFailures`);
- direct S3 event: the handler raises, and Lambda retries the asynchronous invocation.
The local poller (functions/poller.py) calls this same handler with SQS-shaped events.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.core.events.sender import send_once
from functions.core.s3.events import Handoff, is_sqs_event, read_message, s3_objects
from functions.core.s3.intake import ingest_handoff, ingest_s3_object
from functions.telemetry import lambda_entry, record_events

logger = logging.getLogger(__name__)


def _ingest_message(record: dict[str, Any]) -> bool:
    """Ingest what one SQS message carries; False when it failed."""
    try:
        found = read_message(record.get("body") or "")
        if isinstance(found, Handoff):
            ingest_handoff(found)
        else:
            for obj in found:
                ingest_s3_object(obj)
    except Exception:
        logger.exception("s3 event failed", extra={"message_id": record.get("messageId")})
        return False
    return True


def _send_events() -> None:
    """The events the ingestion just wrote go out now, not at the next scheduled round (and
    count in the metrics); a failure here is the sender's to retry, never the message's."""
    try:
        record_events(send_once())
    except Exception:
        logger.exception("sending events after the ingestion failed")


@lambda_entry
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
    if is_sqs_event(event):
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if not _ingest_message(record)
        ]
        if context is not None:  # on Lambda (locally, `moviedb serve` beside the poller sends)
            _send_events()
        return {"batchItemFailures": failures}
    for obj in s3_objects(event):
        ingest_s3_object(obj)
    if context is not None:
        _send_events()
    return None
