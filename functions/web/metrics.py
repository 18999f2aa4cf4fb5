"""`/metrics` in the Prometheus text format (prometheus-client), right whichever worker answers.

- `moviedb_http_request_duration_seconds` (histogram by route template, method and status) is
  recorded by every API process; with several workers (`moviedb serve --workers N`) each writes
  its samples under PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up (multiprocess mode).
- `moviedb_count_cache_total` (by layer and result) counts the lookups of the listing's exact
  counts in each process; summed over the processes, `layer="shared", result="miss"` is how
  many times a count actually ran.
- `moviedb_db_pool_connections_in_use` is each process's pool, summed over the live ones.
- What the database knows is read from it at scrape time, the same for every worker:
  `moviedb_uploads_total` (by status), `moviedb_rows_ingested_total` (by outcome, completed
  uploads), `moviedb_oldest_pending_upload_age_seconds`, and the Celery queue depth
  `moviedb_celery_queue_depth` when Celery is part of the deployment.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import Response

from functions.core.catalogue.counts import observe_count_cache
from functions.core.db import get_pool, pool_in_use

logger = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "moviedb_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COUNT_CACHE = Counter(
    "moviedb_count_cache",
    "Lookups of the listing's exact counts, by cache layer (process, shared) and result "
    "(hit, miss): a shared miss is a count that ran.",
    ["layer", "result"],
)
observe_count_cache(lambda layer, result: COUNT_CACHE.labels(layer, result).inc())
POOL_IN_USE = Gauge(
    "moviedb_db_pool_connections_in_use",
    "Connections of the API's database pools in use (summed over the live processes).",
    multiprocess_mode="livesum",
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """What every request adds: the app's `TimedRequests` middleware (functions/web/timing.py)
    calls it."""
    REQUEST_SECONDS.labels(route, method, str(status)).observe(seconds)
    POOL_IN_USE.set(pool_in_use())


class DatabaseCollector(Collector):
    """The figures the database holds, read at each scrape."""

    def collect(self) -> Iterator[Any]:
        uploads = CounterMetricFamily(
            "moviedb_uploads", "Uploads by their status now.", labels=["status"]
        )
        rows = CounterMetricFamily(
            "moviedb_rows_ingested",
            "Records of completed uploads, by what became of them.",
            labels=["outcome"],
        )
        oldest = GaugeMetricFamily(
            "moviedb_oldest_pending_upload_age_seconds",
            "Age of the oldest upload waiting for a worker (0: none).",
        )
        try:
            with get_pool().connection() as conn:
                for status, count in conn.execute(
                    "SELECT status, count(*) FROM uploads GROUP BY status"
                ):
                    uploads.add_metric([status], count)
                totals = conn.execute(
                    "SELECT coalesce(sum(inserted), 0), coalesce(sum(updated), 0),"
                    " coalesce(sum(unchanged), 0), coalesce(sum(rejected), 0)"
                    " FROM uploads WHERE status = 'completed'"
                ).fetchone()
                age = conn.execute(
                    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8"
                    " FROM uploads WHERE status = 'pending' AND storage_uri IS NOT NULL"
                ).fetchone()
        except Exception:  # the scrape still answers with the process's own figures
            logger.warning("metrics: the database is unavailable", exc_info=True)
            return
        for outcome, value in zip(
            ("inserted", "updated", "unchanged", "rejected"), totals or (), strict=False
        ):
            rows.add_metric([outcome], value)
        oldest.add_metric([], age[0] if age else 0.0)
        yield uploads
        yield rows
        yield oldest
        depth = _queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("moviedb_celery_queue_depth", "Upload tasks waiting.")
            queue.add_metric([], depth)
            yield queue


def _queue_depth() -> int | None:
    from functions.core.queue import broker_status, celery_installed

    if not celery_installed():
        return None
    status = broker_status(timeout=1.0)
    return status.waiting if status.reachable else None


def exposition() -> tuple[bytes, str]:
    """The metrics page and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (REQUEST_SECONDS, COUNT_CACHE, POOL_IN_USE):
            registry.register(collector)
    registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_endpoint() -> Response:
    """GET /metrics (not in the OpenAPI document: it is for Prometheus, not for API clients)."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
