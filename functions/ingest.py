"""Lambda `handler` for CSV files landing in the bucket: S3 `ObjectCreated` events, given
directly (S3 -> Lambda) or wrapped in SQS messages (S3 -> SQS -> Lambda, the deployed shape).

Each object goes to `ingest_s3_object` (functions/core/s3_intake.py). A failure — the upload
`failed` (a bad file), is held by another worker, or an error — is reported, never swallowed:
- SQS event: `{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`, so only the failed
  messages are retried, and dead-lettered after the queue's maxReceiveCount
  (the function's event source mapping needs `ReportBatchItemFailures`);
- direct S3 event: the handler raises, and Lambda retries the asynchronous invocation.
The local poller (local/poller.py) calls this same handler with SQS-shaped events.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.core.config import get_settings
from functions.core.s3_intake import (
    ingest_s3_object,
    is_sqs_event,
    s3_objects,
    s3_objects_in_message,
)
from functions.logs import configure_logging

logger = logging.getLogger(__name__)
_logging_configured = False


def _configure_lambda_logging(context: Any) -> None:
    """On Lambda (a context is given), JSON log lines at LOG_LEVEL, set up once per container.
    Callers in a process of their own (the local poller) configure logging themselves."""
    global _logging_configured
    if context is not None and not _logging_configured:
        configure_logging(get_settings().log_level)
        _logging_configured = True


def _ingest_message(record: dict[str, Any]) -> bool:
    """Ingest every object of one SQS message; False when any of them failed."""
    try:
        for obj in s3_objects_in_message(record.get("body") or ""):
            ingest_s3_object(obj)
    except Exception:
        logger.exception("s3 event failed", extra={"message_id": record.get("messageId")})
        return False
    return True


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
    _configure_lambda_logging(context)
    if is_sqs_event(event):
        failures = [
            {"itemIdentifier": record["messageId"]}
            for record in event["Records"]
            if not _ingest_message(record)
        ]
        return {"batchItemFailures": failures}
    for obj in s3_objects(event):
        ingest_s3_object(obj)
    return None
