"""The sender: from the outbox to the webhooks and SNS, at least once, in order per upload.

One round (`send_round`): the events not yet dispatched are fanned out, one delivery per
webhook that wants them, and published to SNS when a topic is configured, in the transaction
that marks them dispatched (an SNS error rolls it back: the next round publishes again); then
the deliveries due are sent. A delivery is a POST of the event body with `X-Moviedb-Event`,
`X-Moviedb-Delivery` (the same on every retry) and `X-Moviedb-Signature`; a timeout or any
non-2xx is retried after `base * 2^(attempt-1)` seconds with jitter, up to the configured
attempts. Redirects are not followed; the target is checked again before every attempt.

Where it runs: a thread (`start_sender`) in `moviedb serve` and in every `moviedb worker`; on
AWS the `notify` function every minute, and the ingest function after each message.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import httpx
import psycopg

from functions.core.config import Settings, get_settings
from functions.core.events import webhooks
from functions.core.events.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature,
)
from functions.core.events.targets import UnsafeWebhookTarget, check_target
from functions.core.periodic import Periodic
from functions.core.uploads.records import Upload
from functions.core.uploads.view import upload_view

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
SNS_NAMESPACE = uuid.UUID("3a0f8f47-5d7c-4a39-9d55-6a3f0a1f3e21")


_TIMESTAMPS = tuple(f.name for f in fields(Upload) if "datetime" in str(f.type))


def _upload_from_row(row: dict[str, Any]) -> Upload:
    """The upload as the outbox kept it (to_jsonb of its row)."""
    values = dict(row)
    for name in _TIMESTAMPS:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["id"] = uuid.UUID(values["id"])
    known = {f.name for f in fields(Upload)}
    return Upload(**{k: v for k, v in values.items() if k in known})


def event_body(
    event: str, delivery_id: uuid.UUID, occurred_at: datetime, upload_row: dict[str, Any]
) -> bytes:
    """`{"event", "delivery_id", "occurred_at", "upload"}`: `upload` is exactly what
    `GET /api/v1/uploads/{id}` answered at that moment."""
    api_base = get_settings().public_url.rstrip("/") + API_PREFIX
    view = upload_view(_upload_from_row(upload_row), api_base)
    body = {
        "event": event,
        "delivery_id": str(delivery_id),
        "occurred_at": occurred_at.isoformat(),
        "upload": view.model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(attempt: int, base: float) -> float:
    """Seconds before the attempt after `attempt`: exponential, with jitter (0.5x to 1.5x)."""
    return base * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)  # noqa: S311


OUTCOMES = ("inserted", "updated", "unchanged", "rejected")


@dataclass
class RoundReport:
    dispatched: int = 0
    attempted: int = 0
    delivered: int = 0
    # What the dispatched events announce, each transition once: uploads by the status they
    # reached, and the records of the completed ones by outcome (the Lambda metrics).
    statuses: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def count(self, event: str, upload: dict[str, Any]) -> None:
        status = event.removeprefix("upload.")
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "completed":
            for outcome in OUTCOMES:
                self.rows[outcome] = self.rows.get(outcome, 0) + int(upload.get(outcome) or 0)


def _dispatch_events(conn: psycopg.Connection, settings: Settings, report: RoundReport) -> None:
    with conn.transaction():
        events = conn.execute(
            "SELECT id, upload_id, event, occurred_at, upload FROM upload_events"
            " WHERE dispatched_at IS NULL ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED"
        ).fetchall()
        for event_id, upload_id, event, occurred_at, upload in events:
            webhooks.fan_out(conn, event_id, event, upload_id)
            if settings.sns_topic_arn:
                _publish_to_sns(settings.sns_topic_arn, event_id, event, occurred_at, upload)
        if events:
            conn.execute(
                "UPDATE upload_events SET dispatched_at = now() WHERE id = ANY(%s)",
                ([e[0] for e in events],),
            )
    for _, _, event, _, upload in events:  # committed: counted once
        report.count(event, upload)
    report.dispatched += len(events)


def _publish_to_sns(
    topic: str, event_id: int, event: str, occurred_at: datetime, upload: dict[str, Any]
) -> None:
    from functions.core.s3.client import sns_client

    delivery_id = uuid.uuid5(SNS_NAMESPACE, str(event_id))
    sns_client().publish(
        TopicArn=topic,
        Subject=event,
        Message=event_body(event, delivery_id, occurred_at, upload).decode(),
        MessageAttributes={"event": {"DataType": "String", "StringValue": event}},
    )


def _attempt(
    client: httpx.Client,
    conn: psycopg.Connection,
    delivery: webhooks.DueDelivery,
    settings: Settings,
) -> bool:
    row = conn.execute(
        "SELECT occurred_at, upload FROM upload_events WHERE id = %s", (delivery.event_id,)
    ).fetchone()
    assert row is not None, "a delivery's event is kept as long as the delivery"
    body = event_body(delivery.event, delivery.id, row[0], row[1])
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        check_target(delivery.url, allow_private=settings.webhook_allow_private)
        answer = client.post(
            delivery.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "moviedb-webhooks/1",
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: str(delivery.id),
                SIGNATURE_HEADER: signature(body, delivery.secret),
            },
        )
        status_code = answer.status_code
    except UnsafeWebhookTarget as e:
        error = str(e)
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as e:
        error = type(e).__name__
    duration_ms = round((time.perf_counter() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    retry_in = None
    if not succeeded and delivery.attempt < settings.webhook_max_attempts:
        retry_in = retry_delay(delivery.attempt, settings.webhook_retry_base_seconds)
    webhooks.record_attempt(
        conn,
        delivery,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        succeeded=succeeded,
        retry_in=retry_in,
    )
    log = {"delivery_id": str(delivery.id), "attempt": delivery.attempt, "status": status_code}
    if succeeded:
        logger.info("webhook delivered", extra=log)
    else:
        logger.warning(
            "webhook attempt failed", extra={**log, "error": error, "retry_in": retry_in}
        )
    return succeeded


def send_round(conn: psycopg.Connection, *, settings: Settings | None = None) -> RoundReport:
    """Dispatch new events, then send the deliveries due; `conn` in autocommit."""
    settings = settings or get_settings()
    report = RoundReport()
    _dispatch_events(conn, settings, report)
    timeout = settings.webhook_timeout_seconds
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        while due := webhooks.claim_due(conn, limit=20, hold_seconds=timeout + 30):
            for delivery in due:
                report.attempted += 1
                report.delivered += _attempt(client, conn, delivery, settings)
    return report


def send_once() -> RoundReport:
    """One round on a connection of its own."""
    from functions.core.db import connect

    with connect() as conn:
        return send_round(conn)


def start_sender() -> Periodic:
    """A started thread that runs `send_once` every MOVIEDB_EVENTS_POLL_SECONDS."""
    return Periodic("sender", send_once, get_settings().events_poll_seconds).start()
