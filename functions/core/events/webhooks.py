"""Webhooks: the one owner of `webhooks`, `webhook_deliveries` and `webhook_attempts`.

A webhook is a URL, a secret and the events it wants. Each event of the outbox becomes one
delivery per webhook that wants it (its id is the `X-Moviedb-Delivery` of every attempt); each
attempt is logged with its time, status code or error, and duration. The secret is never read
back out: only the sender uses it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from functions.core.errors import MovieDbError

EVENTS = (
    "upload.validated",
    "upload.completed",
    "upload.failed",
    "upload.cancelled",
    "upload.reverted",
)


@dataclass
class WebhookNotFound(MovieDbError):
    webhook_id: str

    def __str__(self) -> str:
        return f"no webhook with id {self.webhook_id}"


@dataclass
class DeliveryNotFound(MovieDbError):
    webhook_id: str
    delivery_id: str

    def __str__(self) -> str:
        return f"webhook {self.webhook_id} has no delivery {self.delivery_id}"


@dataclass
class Webhook:
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime


@dataclass
class Attempt:
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass
class Delivery:
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: int
    event: str
    upload_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    log: list[Attempt]


def create_webhook(
    conn: psycopg.Connection, *, url: str, secret: str, events: list[str]
) -> Webhook:
    with conn.cursor(row_factory=class_row(Webhook)) as cur:
        cur.execute(
            "INSERT INTO webhooks (url, secret, events) VALUES (%s, %s, %s)"
            " RETURNING id, url, events, created_at",
            (url, secret, sorted(set(events))),
        )
        row = cur.fetchone()
    assert row is not None
    return row


def list_webhooks(conn: psycopg.Connection) -> list[Webhook]:
    with conn.cursor(row_factory=class_row(Webhook)) as cur:
        return cur.execute(
            "SELECT id, url, events, created_at FROM webhooks ORDER BY created_at, id"
        ).fetchall()


def get_webhook(conn: psycopg.Connection, webhook_id: uuid.UUID | str) -> Webhook:
    with conn.cursor(row_factory=class_row(Webhook)) as cur:
        row = cur.execute(
            "SELECT id, url, events, created_at FROM webhooks WHERE id = %s", (str(webhook_id),)
        ).fetchone()
    if row is None:
        raise WebhookNotFound(str(webhook_id))
    return row


def delete_webhook(conn: psycopg.Connection, webhook_id: uuid.UUID | str) -> None:
    if conn.execute("DELETE FROM webhooks WHERE id = %s", (str(webhook_id),)).rowcount != 1:
        raise WebhookNotFound(str(webhook_id))


def _deliveries(
    conn: psycopg.Connection, where: str, params: dict[str, Any], limit: int = 100
) -> list[Delivery]:
    rows = conn.execute(
        f"""
        SELECT d.id, d.webhook_id, d.event_id, e.event, d.upload_id, d.status, d.attempts,
               d.next_attempt_at, d.created_at,
               coalesce((SELECT jsonb_agg(jsonb_build_object(
                                 'attempt', a.attempt, 'attempted_at', a.attempted_at,
                                 'status_code', a.status_code, 'error', a.error,
                                 'duration_ms', a.duration_ms) ORDER BY a.attempted_at)
                           FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]')
          FROM webhook_deliveries d JOIN upload_events e ON e.id = d.event_id
         WHERE {where}
         ORDER BY d.event_id DESC LIMIT %(limit)s
        """,
        {**params, "limit": limit},
    ).fetchall()
    return [
        Delivery(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            [
                Attempt(
                    attempt=a["attempt"],
                    attempted_at=datetime.fromisoformat(a["attempted_at"]),
                    status_code=a["status_code"],
                    error=a["error"],
                    duration_ms=a["duration_ms"],
                )
                for a in row[9]
            ],
        )
        for row in rows
    ]


def list_deliveries(
    conn: psycopg.Connection, webhook_id: uuid.UUID | str, *, limit: int = 100
) -> list[Delivery]:
    """The webhook's deliveries, newest event first, each with its attempts."""
    get_webhook(conn, webhook_id)
    return _deliveries(conn, "d.webhook_id = %(webhook)s", {"webhook": str(webhook_id)}, limit)


def redeliver(
    conn: psycopg.Connection, webhook_id: uuid.UUID | str, delivery_id: uuid.UUID | str
) -> Delivery:
    """Send a delivery again (same delivery id), now, with a fresh count of attempts."""
    get_webhook(conn, webhook_id)
    if (
        conn.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0,"
            " next_attempt_at = now() WHERE id = %s AND webhook_id = %s",
            (str(delivery_id), str(webhook_id)),
        ).rowcount
        != 1
    ):
        raise DeliveryNotFound(str(webhook_id), str(delivery_id))
    (found,) = _deliveries(conn, "d.id = %(delivery)s", {"delivery": str(delivery_id)})
    return found


# --- what the sender uses ------------------------------------------------------------------


def fan_out(conn: psycopg.Connection, event_id: int, event: str, upload_id: uuid.UUID) -> int:
    """One delivery per webhook that wants `event` (none twice); how many were created."""
    return conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, upload_id)"
        " SELECT id, %s, %s FROM webhooks WHERE %s = ANY(events)"
        " ON CONFLICT (webhook_id, event_id) DO NOTHING",
        (event_id, upload_id, event),
    ).rowcount


@dataclass(frozen=True)
class DueDelivery:
    id: uuid.UUID
    attempt: int  # the number of the attempt about to be made
    url: str
    secret: str
    event_id: int
    event: str


def claim_due(conn: psycopg.Connection, *, limit: int, hold_seconds: float) -> list[DueDelivery]:
    """Pending deliveries whose time has come, oldest event first, each the oldest one pending
    for its webhook and upload (in order per upload), held for `hold_seconds` so that another
    sender does not take them meanwhile."""
    rows = conn.execute(
        """
        WITH due AS (
            SELECT d.id FROM webhook_deliveries d
             WHERE d.status = 'pending' AND d.next_attempt_at <= now()
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_deliveries earlier
                    WHERE earlier.webhook_id = d.webhook_id AND earlier.upload_id = d.upload_id
                      AND earlier.status = 'pending' AND earlier.event_id < d.event_id)
             ORDER BY d.event_id
             LIMIT %(limit)s
               FOR UPDATE SKIP LOCKED
        )
        UPDATE webhook_deliveries d
           SET next_attempt_at = now() + make_interval(secs => %(hold)s)
          FROM due, webhooks w, upload_events e
         WHERE d.id = due.id AND w.id = d.webhook_id AND e.id = d.event_id
        RETURNING d.id, d.attempts + 1, w.url, w.secret, d.event_id, e.event
        """,
        {"limit": limit, "hold": hold_seconds},
    ).fetchall()
    return sorted((DueDelivery(*row) for row in rows), key=lambda d: d.event_id)


def record_attempt(
    conn: psycopg.Connection,
    delivery: DueDelivery,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    succeeded: bool,
    retry_in: float | None,
) -> None:
    """Log the attempt; the delivery succeeded, waits `retry_in` seconds, or (None) failed."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)"
            " VALUES (%s, %s, %s, %s, %s)",
            (delivery.id, delivery.attempt, status_code, error, duration_ms),
        )
        status = "succeeded" if succeeded else ("pending" if retry_in is not None else "failed")
        conn.execute(
            "UPDATE webhook_deliveries SET status = %s, attempts = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            (status, delivery.attempt, retry_in or 0, delivery.id),
        )
