"""The Celery worker: the queue door of the ingestion pipeline.

`ingest_upload` is the one task (`moviedb.ingest_upload`): it calls the same core ingestion as
every other door. The upload's state lives in PostgreSQL, not in a result backend. Run it with
`moviedb worker` (or `celery -A functions.worker worker`).

Durability (settings in functions/core/queue.py): a message is acknowledged only when its task
ended; a worker process that dies mid-task gets its message requeued; a dead worker's upload is
taken over through its expired lease by the sweep every worker runs (functions/core/takeover.py).
Transient errors (database, storage) are retried with exponential backoff; a bad file fails once.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Celery, Task, signals

from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.errors import UploadNotFound
from functions.core.ingestion import LeaseLost, run_upload
from functions.core.queue import (
    INGEST_TASK,
    TRANSIENT_ERRORS,
    celery_config,
    enqueue_ingest,
    is_transient,
)
from functions.core.takeover import Sweeper, sweep
from functions.logs import configure_logging

logger = logging.getLogger(__name__)

MAX_RETRIES = 6
RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0

app = Celery("moviedb")
app.conf.update(celery_config(get_settings()))


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter: 5 s, 10 s, 20 s ... capped at 5 minutes."""
    return random.uniform(0, min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries))  # noqa: S311


@app.task(name=INGEST_TASK, bind=True, max_retries=MAX_RETRIES)
def ingest_upload(self: Task, upload_id: str, retry_failed: bool = False) -> str:
    """Ingest one registered upload; return its final status. A failed upload is run again
    only when asked (a failed file uploaded again) or on this task's own retries."""
    log: dict[str, Any] = {
        "upload_id": upload_id,
        "task_id": self.request.id,
        "retries": self.request.retries,
        "redelivered": bool((self.request.delivery_info or {}).get("redelivered")),
    }
    try:
        # A retry follows a transient failure the core recorded as `failed`: take it again.
        upload = run_upload(upload_id, retry_failed=retry_failed or self.request.retries > 0)
    except UploadNotFound:
        logger.warning("no such upload, task dropped", extra=log)
        return "missing"
    except LeaseLost:
        logger.warning("upload taken over by another worker", extra=log)
        return "taken-over"
    except TRANSIENT_ERRORS as e:
        if not is_transient(e):
            raise
        delay = retry_delay(self.request.retries)
        logger.warning(
            "transient error, retrying",
            extra={**log, "error": f"{type(e).__name__}: {e}", "countdown": round(delay, 1)},
        )
        raise self.retry(exc=e, countdown=delay) from e
    logger.info(
        "task done",
        extra={**log, "status": upload.status, "attempts": upload.attempts, "error": upload.error},
    )
    return upload.status


def sweep_once() -> None:
    settings = get_settings()
    with connect() as conn:
        sweep(
            conn,
            enqueue_ingest,
            lease_seconds=settings.upload_lease_seconds,
            requeue_seconds=settings.upload_requeue_seconds,
            resend_seconds=2 * settings.upload_sweep_seconds,
        )


_sweeper: Sweeper | None = None


@signals.worker_ready.connect
def _start_sweeper(**_: object) -> None:
    global _sweeper
    _sweeper = Sweeper(sweep_once, get_settings().upload_sweep_seconds)
    _sweeper.start()
    logger.info("sweeper started", extra={"interval": get_settings().upload_sweep_seconds})


@signals.worker_shutdown.connect
def _stop_sweeper(**_: object) -> None:
    if _sweeper is not None:
        _sweeper.stop()


@signals.setup_logging.connect
def _setup_logging(loglevel: str | int | None = None, **_: object) -> None:
    """JSON lines on stderr for every logger, Celery's included (this replaces its setup)."""
    configure_logging(loglevel or get_settings().log_level)
