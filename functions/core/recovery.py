"""Taking up again, at start, the uploads a stopped server left unfinished.

An upload accepted but never finished is `pending`, or `processing` under the lease of a worker
that may be dead. Each is handed to `run_upload`; one still held under a live lease (its worker
may have just died, or is alive elsewhere) is tried again once that lease could have expired,
until every one is finished. Nothing accepted is lost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime

from functions.core.db import connect
from functions.core.ingestion import run_upload
from functions.core.uploads import Upload, unfinished_upload_ids

logger = logging.getLogger(__name__)

MIN_WAIT_SECONDS = 1.0


def _wait_for(upload: Upload) -> float:
    if upload.lease_expires_at is None:
        return MIN_WAIT_SECONDS
    remaining = (upload.lease_expires_at - datetime.now(UTC)).total_seconds()
    return max(MIN_WAIT_SECONDS, remaining + 0.5)


def resume_unfinished(*, sleep=time.sleep) -> list[Upload]:
    """Run every unfinished upload to its end; return their final records."""
    with connect() as conn:
        todo: list[uuid.UUID] = unfinished_upload_ids(conn)
    if todo:
        logger.info("resuming unfinished uploads", extra={"count": len(todo)})
    done: list[Upload] = []
    while todo:
        waiting: list[tuple[uuid.UUID, float]] = []
        for upload_id in todo:
            try:
                upload = run_upload(upload_id)
            except Exception:  # recorded as failed in the upload by run_upload
                logger.exception("resumed upload failed", extra={"upload_id": str(upload_id)})
                continue
            if upload.finished:
                done.append(upload)
            else:
                waiting.append((upload_id, _wait_for(upload)))
        if waiting:
            sleep(min(wait for _, wait in waiting))
        todo = [upload_id for upload_id, _ in waiting]
    return done


def start_recovery() -> threading.Thread:
    """`resume_unfinished` in a background thread (the server answers meanwhile)."""
    thread = threading.Thread(target=resume_unfinished, name="moviedb-recovery", daemon=True)
    thread.start()
    return thread
