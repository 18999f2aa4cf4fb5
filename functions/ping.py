"""GET /ping (v1-compatible) and GET /health (database reachable, schema current;
the Celery broker reported)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from functions.core.health import check_health
from functions.core.queue import broker_status, celery_installed
from functions.web import error_responses, lambda_handler

router = APIRouter(tags=["Health"])

PONG = "Service is up!"


class HealthResponse(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(examples=["ok"], description="`ok` when a query succeeded.")
    pending_migrations: list[str] = Field(
        examples=[[]], description="Schema migrations not applied yet (always empty here)."
    )
    broker: str = Field(
        examples=["ok"],
        description="The Celery broker (Redis): `ok`, `unreachable`, or `not_configured` where "
        "the deployment has no Celery (AWS Lambda). Only "
        "`use_celery=true` needs it, so an unreachable broker does not make the service "
        "unhealthy (such uploads answer 503 meanwhile); `moviedb worker --status` tells more.",
    )


@router.get(
    "/ping",
    summary="Health check (v1-compatible)",
    response_description=f'Always the JSON string "{PONG}" while the process answers.',
)
def ping() -> str:
    """Answers as long as the API process runs; it does not touch the database."""
    return PONG


@router.get(
    "/health",
    summary="Readiness: database reachable and migrations current",
    responses=error_responses(503),
)
def health() -> HealthResponse:
    """200 when the database answers and every schema migration is applied; 503 otherwise,
    with the reason in the error's `details.health`."""
    report = check_health()
    if not celery_installed():
        broker = "not_configured"  # a deployment without Celery (AWS Lambda)
    else:
        broker = "ok" if broker_status().reachable else "unreachable"
    return HealthResponse(
        status="ok",
        database=report.database,
        pending_migrations=report.pending_migrations,
        broker=broker,
    )


handler = lambda_handler(router)
