"""The full API: every router under /api/v1, with /docs and /openapi.json, and the web console
at `/` (`functions/console/`, static files; served by this app only).

What `moviedb serve` runs (uvicorn `functions.api:app`) and, as `handler`, a Lambda function
serving every route at once. The error shape and the mapping of errors to HTTP responses are
`functions/web/__init__.py`'s, shared with each router's own Lambda handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from mangum import Mangum

from functions import console, movies, ping, presigned, telemetry, upload, uploads, webhooks
from functions.core.ingest.dispatch import shutdown_in_process
from functions.web import create_app
from functions.web.metrics import metrics_endpoint, observe_request
from functions.web.timing import TimedRequests


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """When a server process stops (each worker of `moviedb serve --workers N`), the uploads it
    is ingesting finish and those waiting stay `pending`, for the reaper: nothing is lost."""
    yield
    await anyio.to_thread.run_sync(lambda: shutdown_in_process(wait=True))


app = create_app(
    ping.router, upload.router, uploads.router, presigned.router, movies.router, webhooks.router
)
app.router.lifespan_context = lifespan
# Prometheus under uvicorn; on Lambda (the docs function) CloudWatch too (functions/telemetry.py)
app.add_middleware(TimedRequests, observers=(observe_request, telemetry.record_request))
app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
console.install(app)
# Lambda: no lifespan (Mangum would run it on every invocation); pools open lazily.
handler = telemetry.lambda_entry(
    Mangum(app, lifespan="off"), correlation_id_path=telemetry.API_GATEWAY_REQUEST_ID
)
