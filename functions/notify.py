"""Lambda `handler` run on a schedule (serverless.yml: every minute): one round of the event
sender on AWS, the retries of webhook deliveries above all (the ingest function also runs a
round after each message, so an upload's events go out within seconds of its end)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from functions.core.events.sender import send_once
from functions.telemetry import lambda_entry, record_events


@lambda_entry
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    report = send_once()
    record_events(report)
    return asdict(report)
