"""The Celery worker: the queue door of the ingestion pipeline.

`ingest_upload` is the one task (`moviedb.ingest_upload`): it calls the same core ingestion as
every other door. The upload's state lives in PostgreSQL, not in a result backend. Run it with
`moviedb worker` (or `celery -A functions.worker worker`).

Durability (settings in functions/core/queue.py): a message is acknowledged only when its task
ended; a worker process that dies mid-task gets its message requeued; a dead worker's upload is
taken over through its expired lease by the reaper every worker runs
(functions/core/uploads/recovery.py). Transient errors (database, storage) are retried with
Celery's own exponential backoff and jitter; a bad file fails once.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task, signals

from functions.core.config import get_settings
from functions.core.errors import UploadNotFound
from functions.core.events.sender import start_sender
from functions.core.ingest.dispatch import to_celery
from functions.core.ingest.pipeline import LeaseLost, run_upload
from functions.core.ingest.upkeep import start_reaper
from functions.core.periodic import Periodic
from functions.core.queue import INGEST_TASK, TRANSIENT_ERRORS, celery_config, is_transient
from functions.logs import configure_logging

logger = logging.getLogger(__name__)

MAX_RETRIES = 6
RETRY_MAX_SECONDS = 300  # retries back off exponentially (1, 2, 4 ... s, full jitter) up to this

app = Celery("moviedb")
app.conf.update(celery_config(get_settings()))


class TransientFailure(Exception):
    """A transient error (database, storage) that Celery retries with backoff."""


@app.task(
    name=INGEST_TASK,
    bind=True,
    autoretry_for=(TransientFailure,),
    max_retries=MAX_RETRIES,
    retry_backoff=True,
    retry_backoff_max=RETRY_MAX_SECONDS,
    retry_jitter=True,
)
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
        logger.warning("transient error, retrying", extra={**log, "error": type(e).__name__})
        raise TransientFailure(f"{type(e).__name__}: {e}") from e
    logger.info(
        "task done",
        extra={**log, "status": upload.status, "attempts": upload.attempts, "error": upload.error},
    )
    return upload.status


_threads: list[Periodic] = []


@signals.worker_ready.connect
def _start_threads(**_: object) -> None:
    """The reaper (stalled uploads back to the queue) and the event sender (webhooks, SNS)."""
    _threads.extend([start_reaper(to_celery), start_sender()])
    logger.info(
        "reaper and sender started", extra={"interval": get_settings().upload_sweep_seconds}
    )


@signals.worker_shutdown.connect
def _stop_threads(**_: object) -> None:
    for thread in _threads:
        thread.stop()


@signals.setup_logging.connect
def _setup_logging(loglevel: str | int | None = None, **_: object) -> None:
    """JSON lines on stderr for every logger, Celery's included (this replaces its setup)."""
    configure_logging(loglevel or get_settings().log_level)
