"""Who runs an accepted upload: one choice per runtime, made here.

- `in_process`: threads of this process (`moviedb serve`, the default). A bounded pool of
  `MOVIEDB_INGEST_THREADS` named threads: waiting uploads wait in its queue, not in request
  threads.
- `celery`: the Celery queue (`use_celery=true`; the worker's reaper).
- `queue`: the ingest function's SQS queue (`MOVIEDB_INGEST_DISPATCH=queue`, set on AWS Lambda,
  where an API invocation has 29 s and nothing runs after its answer).

A dispatch that cannot be made (broker or queue down) raises, so the caller can discard a new
upload and answer 503: nothing is accepted that nobody will run. A dispatch made twice is
harmless (the claim on the upload lets one worker in).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from functions.core.config import get_settings
from functions.core.errors import MovieDbError
from functions.core.ingest.pipeline import run_upload

logger = logging.getLogger(__name__)

# Hands the upload `upload_id` to whoever runs it; retry_failed: run it again if it failed.
Dispatch = Callable[..., None]


@dataclass
class QueueUnavailable(MovieDbError):
    """The ingest queue (SQS) could not be reached: the upload was not handed on."""

    reason: str

    def __str__(self) -> str:
        return "the ingest queue is unavailable, try again later"


def ingest_accepted(upload_id: uuid.UUID, *, retry_failed: bool = False) -> None:
    """Run an accepted upload here. Its outcome, failures included, is recorded in its upload
    record by `run_upload`; here it is also logged."""
    try:
        run_upload(upload_id, retry_failed=retry_failed)
    except Exception:
        logger.exception("ingestion failed", extra={"upload_id": str(upload_id)})


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _ingest_threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=get_settings().ingest_threads, thread_name_prefix="moviedb-ingest"
            )
        return _pool


def in_process(upload_id: uuid.UUID, *, retry_failed: bool = False) -> None:
    """Run the upload in this process's ingestion threads (returns at once)."""
    _ingest_threads().submit(ingest_accepted, upload_id, retry_failed=retry_failed)


def shutdown_in_process(*, wait: bool) -> None:
    """Stop taking uploads in this process; with `wait`, let those running finish. Uploads left
    waiting stay `pending` in the database, for the next reaper to take up."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=wait, cancel_futures=True)


def to_celery(upload_id: uuid.UUID, *, retry_failed: bool = False) -> None:
    """Queue the upload for the Celery worker (raises BrokerUnavailable)."""
    from functions.core.queue import enqueue_ingest

    enqueue_ingest(upload_id, retry_failed=retry_failed)


def to_ingest_queue(upload_id: uuid.UUID, *, retry_failed: bool = False) -> None:
    """Hand the upload to the ingest function through its SQS queue (raises
    QueueUnavailable)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from functions.core.s3.client import sqs_client
    from functions.core.s3.events import handoff_message

    settings = get_settings()
    client = sqs_client()
    try:
        url = (
            settings.sqs_queue_url
            or client.get_queue_url(QueueName=settings.sqs_queue_name)["QueueUrl"]
        )
        client.send_message(
            QueueUrl=url, MessageBody=handoff_message(upload_id, retry_failed=retry_failed)
        )
    except (BotoCoreError, ClientError) as e:
        logger.warning(
            "ingest queue unavailable, upload not handed on",
            extra={"upload_id": str(upload_id), "error": str(e)},
        )
        raise QueueUnavailable(type(e).__name__) from e
    logger.info("upload handed to the ingest queue", extra={"upload_id": str(upload_id)})


def dispatcher(*, use_celery: bool = False) -> Dispatch:
    """How this runtime runs an accepted upload: Celery when asked, else as configured."""
    if use_celery:
        return to_celery
    if get_settings().ingest_dispatch == "queue":
        return to_ingest_queue
    return in_process
