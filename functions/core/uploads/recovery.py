"""Recovery of stalled work: `reap_stalled`, the one function every runtime triggers.

An upload accepted but never finished is `pending` (its job was lost: a server stopped before
its background task ran, Redis restarted without persistence, a Lambda invocation was killed),
or `processing` under the lease of a worker that stopped renewing it. `reap_stalled` finds them
and hands each to the runtime's `dispatch` again:
- `moviedb serve`: a reaper thread (`start_reaper`, functions/core/ingest/upkeep.py),
  dispatching to the in-process ingestion threads (its first pass at start takes every pending
  upload at once: the process that accepted them is gone);
- the Celery worker: a reaper thread in every worker, dispatching to the Celery queue;
- AWS: the scheduled `reap` function (functions/reap.py), dispatching to the ingest queue.

Dispatching twice is harmless: the claim on the upload record lets one worker in, and the
atomic publish makes a takeover end like one clean run. Each upload handed on is marked with a
compare-and-set on `updated_at` (`mark_dispatched`), so among several reapers at once only one
sends it, and not again before another lease period.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from functions.core.uploads.records import Unfinished, mark_dispatched, unfinished_uploads
from functions.core.uploads.status import Status
from functions.core.uploads.workers import dead_local_worker

logger = logging.getLogger(__name__)

Dispatch = Callable[[uuid.UUID], None]


@dataclass(frozen=True)
class Stalled:
    upload_id: uuid.UUID
    status: Status
    reason: str


def _why_stalled(
    upload: Unfinished, *, lease_seconds: float, pending_seconds: float, resend_seconds: float
) -> str | None:
    """Why nobody is working on `upload` (None: it is in good hands, or was just sent).

    processing: the lease expired and nothing touched it for a lease period (no other reaper
    sent it meanwhile), or its owner is a dead process of this host, quiet for
    `resend_seconds`. pending: untouched for `pending_seconds`.
    """
    if upload.status in (Status.PROCESSING, Status.PUBLISHING) and upload.lease_owner:
        if upload.lease_expired and upload.quiet_for >= lease_seconds:
            return "lease expired"
        if upload.quiet_for >= resend_seconds and dead_local_worker(upload.lease_owner):
            return f"owner {upload.lease_owner} is gone"
        return None
    if upload.quiet_for >= pending_seconds:  # pending, or publishing never claimed
        return "never picked up"
    return None


def reap_stalled(
    conn: psycopg.Connection,
    dispatch: Dispatch,
    *,
    lease_seconds: float,
    pending_seconds: float,
    resend_seconds: float,
) -> list[Stalled]:
    """Hand every stalled upload to `dispatch` again (once per reaper race); return them."""
    sent = []
    for upload in unfinished_uploads(conn):
        reason = _why_stalled(
            upload,
            lease_seconds=lease_seconds,
            pending_seconds=pending_seconds,
            resend_seconds=resend_seconds,
        )
        if reason is None or not mark_dispatched(conn, upload.id, upload.updated_at):
            continue  # in good hands, or another reaper (or its worker) touched it meanwhile
        dispatch(upload.id)
        logger.warning(
            "stalled upload dispatched again", extra={"upload_id": str(upload.id), "reason": reason}
        )
        sent.append(Stalled(upload.id, upload.status, reason))
    return sent
