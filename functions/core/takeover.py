"""Taking over stalled uploads from a worker: a dead worker's upload must not wait for Redis.

Redis hands an unacknowledged message back only after the visibility timeout (hours). The
upload record knows sooner: its lease stops being renewed when its worker dies. Every Celery
worker runs `sweep` every few seconds: an upload `processing` under an expired lease (or one held
by a process of this host that no longer exists), or `pending` untouched for too long (its
message was lost, say Redis restarted without persistence), is sent to the queue again. Sending
twice is harmless: the claim on the upload record lets one worker in, and the ingestion's atomic
publish makes a takeover end like one clean run.

The sweep marks what it sent by touching `updated_at` with a compare-and-set, so that among
several workers sweeping at once only one sends each upload, and not again at the next sweep.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from functions.core.ingestion import dead_local_worker

logger = logging.getLogger(__name__)

_CANDIDATES = """
    SELECT id, status, lease_owner, updated_at,
           status = 'processing' AND lease_expires_at IS NOT NULL
               AND lease_expires_at < now() AS lease_expired,
           updated_at < now() - make_interval(secs => %(lease)s) AS lease_quiet,
           updated_at < now() - make_interval(secs => %(requeue)s) AS pending_quiet,
           updated_at < now() - make_interval(secs => %(resend)s) AS recently_quiet
      FROM uploads
     WHERE status IN ('pending', 'processing')
       AND storage_uri IS NOT NULL  -- a presigned upload whose file has not arrived yet
     ORDER BY created_at
"""

# Only the sweeper whose view of the row is still current marks it (and sends it).
_MARK_SENT = """
    UPDATE uploads SET updated_at = now()
     WHERE id = %s AND updated_at = %s AND status IN ('pending', 'processing')
"""


@dataclass(frozen=True)
class Stalled:
    upload_id: uuid.UUID
    status: str
    reason: str


def stalled_uploads(
    conn: psycopg.Connection, *, lease_seconds: int, requeue_seconds: int, resend_seconds: float
) -> list[tuple[Stalled, datetime]]:
    """Unfinished uploads nobody is working on, with the `updated_at` they were seen with.

    processing: the lease expired and no sweep sent it within the last lease period, or its
    owner is a dead process of this host and nothing touched it for `resend_seconds`.
    pending: untouched for `requeue_seconds`.
    """
    params = {"lease": lease_seconds, "requeue": requeue_seconds, "resend": resend_seconds}
    found = []
    for (
        upload_id,
        status,
        owner,
        updated_at,
        expired,
        lease_quiet,
        pending_quiet,
        quiet,
    ) in conn.execute(_CANDIDATES, params):
        if status == "processing":
            if expired and lease_quiet:
                found.append((Stalled(upload_id, status, "lease expired"), updated_at))
            elif quiet and dead_local_worker(owner) is not None:
                found.append((Stalled(upload_id, status, f"owner {owner} is gone"), updated_at))
        elif pending_quiet:
            found.append((Stalled(upload_id, status, "never picked up"), updated_at))
    return found


def sweep(
    conn: psycopg.Connection,
    send: Callable[[uuid.UUID], None],
    *,
    lease_seconds: int,
    requeue_seconds: int,
    resend_seconds: float,
) -> list[Stalled]:
    """Send every stalled upload to the queue again (once per sweeper race); return them."""
    sent = []
    for stalled, seen_at in stalled_uploads(
        conn,
        lease_seconds=lease_seconds,
        requeue_seconds=requeue_seconds,
        resend_seconds=resend_seconds,
    ):
        if conn.execute(_MARK_SENT, (stalled.upload_id, seen_at)).rowcount != 1:
            continue  # another sweeper (or the upload's worker) touched it meanwhile
        send(stalled.upload_id)
        logger.warning(
            "stalled upload sent to the queue again",
            extra={"upload_id": str(stalled.upload_id), "reason": stalled.reason},
        )
        sent.append(stalled)
    return sent


def upload_backlog(conn: psycopg.Connection) -> dict[str, int]:
    """Unfinished uploads by state, for operators: pending, processing, and among those
    processing the ones whose lease has expired (their worker is probably gone)."""
    row = conn.execute(
        """
        SELECT count(*) FILTER (WHERE status = 'pending'),
               count(*) FILTER (WHERE status = 'processing'),
               count(*) FILTER (WHERE status = 'processing' AND lease_expires_at < now())
          FROM uploads WHERE status IN ('pending', 'processing')
        """
    ).fetchone()
    pending, processing, expired = row if row else (0, 0, 0)
    return {"pending": pending, "processing": processing, "lease_expired": expired}


class Sweeper:
    """Runs `sweep_once` every `interval` seconds in a daemon thread until stopped. A failed
    round (database or broker down) is logged and the next one tries again."""

    def __init__(self, sweep_once: Callable[[], object], interval: float) -> None:
        self._sweep_once = sweep_once
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="moviedb-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sweep_once()
            except Exception:  # logged with its traceback; the next round may find services back
                logger.exception("sweep failed")
