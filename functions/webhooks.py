"""Webhooks, behind the API key: register one (POST /webhooks), list, read, delete; its
deliveries with every attempt, and redelivery. The sender (functions/core/events/sender.py)
POSTs each event it wants, signed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from functions.core.config import get_settings
from functions.core.events import webhooks
from functions.core.events.targets import check_target
from functions.web import ApiKeyRequired, error_responses, lambda_handler
from functions.web.deps import ConnectionDep
from functions.web.links import link

router = APIRouter(tags=["Webhooks"], dependencies=[ApiKeyRequired])

Event = Literal[
    "upload.validated", "upload.completed", "upload.failed", "upload.cancelled", "upload.reverted"
]
WebhookId = Annotated[uuid.UUID, Path(description="The webhook's id.")]


_WEBHOOK_ID = {"webhook_id": "$response.body#/webhook_id"}
CREATED_LINKS = {
    "read": link("GET /webhooks/{webhook_id}", "The webhook.", **_WEBHOOK_ID),
    "deliveries": link("GET /webhooks/{webhook_id}/deliveries", "Its deliveries.", **_WEBHOOK_ID),
    "delete": link("DELETE /webhooks/{webhook_id}", "Delete it.", **_WEBHOOK_ID),
}
DELETED_LINKS = {
    "read": link("GET /webhooks/{webhook_id}", "Now 404.", webhook_id="$request.path.webhook_id")
}
DELIVERY_LINKS = {
    "redeliver": link(
        "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        "Send the newest delivery again.",
        webhook_id="$request.path.webhook_id",
        delivery_id="$response.body#/0/delivery_id",
    )
}


class NewWebhook(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2000,
        # http(s) with a host and no control character, as a pattern for the documentation:
        # `check_target` is the validator (422 unsafe_webhook_target), and checks where the host
        # may point too
        json_schema_extra={
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
        },
        description="Where the events are POSTed: http(s), a public address (no loopback, "
        "private, link-local or metadata address; redirects are not followed).",
        examples=["https://hooks.example.com/moviedb"],
    )
    secret: str = Field(
        min_length=16,
        max_length=200,
        pattern=r"^[^\x00]*$",  # PostgreSQL text cannot hold a NUL
        description="Signs every delivery: `X-Moviedb-Signature: sha256=<hex HMAC-SHA256 of the "
        "raw body>`. Never shown back.",
    )
    events: list[Event] = Field(min_length=1, description="The events to receive.")


class WebhookOut(BaseModel):
    webhook_id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's answer, if there was one.")
    error: str | None = Field(description="`timeout`, a connection error, a refused target.")
    duration_ms: int


class DeliveryOut(BaseModel):
    delivery_id: uuid.UUID = Field(description="The X-Moviedb-Delivery of every attempt.")
    event: str
    upload_id: uuid.UUID
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    attempts_log: list[AttemptOut]


def _webhook(hook: webhooks.Webhook) -> WebhookOut:
    return WebhookOut(
        webhook_id=hook.id, url=hook.url, events=hook.events, created_at=hook.created_at
    )


def _delivery(found: webhooks.Delivery) -> DeliveryOut:
    return DeliveryOut(
        delivery_id=found.id,
        event=found.event,
        upload_id=found.upload_id,
        status=found.status,  # type: ignore[arg-type]
        attempts=found.attempts,
        next_attempt_at=found.next_attempt_at if found.status == "pending" else None,
        attempts_log=[AttemptOut(**vars(a)) for a in found.log],
    )


@router.post(
    "/webhooks",
    status_code=201,
    summary="Register a webhook",
    responses={201: {"links": CREATED_LINKS}, **error_responses(401, 403, 422, 503)},
)
def create(body: NewWebhook, conn: ConnectionDep) -> WebhookOut:
    """201 with its id. 422 `unsafe_webhook_target` when the URL's host resolves to an address a
    webhook may not reach (MOVIEDB_WEBHOOK_ALLOW_PRIVATE=true allows loopback and private ones
    for local use)."""
    check_target(body.url, allow_private=get_settings().webhook_allow_private)
    return _webhook(
        webhooks.create_webhook(conn, url=body.url, secret=body.secret, events=list(body.events))
    )


@router.get("/webhooks", summary="The webhooks", responses=error_responses(401, 403, 503))
def list_all(conn: ConnectionDep) -> list[WebhookOut]:
    return [_webhook(hook) for hook in webhooks.list_webhooks(conn)]


@router.get(
    "/webhooks/{webhook_id}", summary="One webhook", responses=error_responses(401, 403, 404, 422)
)
def read(webhook_id: WebhookId, conn: ConnectionDep) -> WebhookOut:
    return _webhook(webhooks.get_webhook(conn, webhook_id))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Delete a webhook",
    responses={204: {"links": DELETED_LINKS}, **error_responses(401, 403, 404, 422)},
)
def delete(webhook_id: WebhookId, conn: ConnectionDep) -> Response:
    webhooks.delete_webhook(conn, webhook_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="A webhook's deliveries, newest first, with every attempt",
    responses={200: {"links": DELIVERY_LINKS}, **error_responses(401, 403, 404, 422)},
)
def deliveries(webhook_id: WebhookId, conn: ConnectionDep) -> list[DeliveryOut]:
    return [_delivery(d) for d in webhooks.list_deliveries(conn, webhook_id)]


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again (the same delivery id)",
    responses=error_responses(401, 403, 404, 422),
)
def redeliver(
    webhook_id: WebhookId,
    delivery_id: Annotated[uuid.UUID, Path(description="The delivery's id.")],
    conn: ConnectionDep,
) -> DeliveryOut:
    return _delivery(webhooks.redeliver(conn, webhook_id, delivery_id))


handler = lambda_handler(router)
