"""What the Lambda functions tell CloudWatch, through Powertools for AWS Lambda (Python). Only
the Lambda entry points use it (`lambda_entry`); `moviedb serve` and `moviedb worker` keep
Prometheus (functions/web/metrics.py) and their JSON lines (functions/logs.py).

- Logger: every record of every module, the core's included, as one JSON object a line on
  stdout, with the invocation's keys (`function_request_id`, `function_name`, `cold_start`,
  and `correlation_id`, the API Gateway request id, for HTTP) and the fields the core passes
  in `extra` (`upload_id`, ...). Level: MOVIEDB_LOG_LEVEL.
- Metrics: the figures `/metrics` gives under uvicorn, under the same names, in CloudWatch's
  embedded metric format (EMF) printed at the end of each invocation; namespace
  POWERTOOLS_METRICS_NAMESPACE, dimension `service` POWERTOOLS_SERVICE_NAME (both `moviedb`
  unless set): `moviedb_http_request_duration_seconds` (route, method, status),
  `moviedb_count_cache_total` (layer, result), `moviedb_uploads_total` (status) and
  `moviedb_rows_ingested_total` (outcome) from the upload events an invocation dispatched (each
  transition once, whichever function ran the sender), and Powertools' `ColdStart`.
- Tracer: X-Ray segments of each invocation and of its botocore and httpx calls, only where
  the X-Ray SDK is installed (the artifact does not ship it: add it, e.g. with the Powertools
  layer, and turn on the functions' active tracing) and Powertools does not disable it
  (POWERTOOLS_TRACE_DISABLED, or not running on Lambda); otherwise not even constructed.

Powertools is imported with the handler (Lambda's init phase); its Logger and Tracer are made
at the first invocation.

A handler called without a Lambda context (the local poller, tests) runs bare: no Powertools
at all, and nothing is recorded.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from functions.core.config import get_settings

if TYPE_CHECKING:
    from functions.core.events.sender import RoundReport

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "moviedb"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "moviedb"
API_GATEWAY_REQUEST_ID = correlation_paths.API_GATEWAY_HTTP

Handler = Callable[[dict[str, Any], Any], Any]

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


@dataclass
class _Invocations:
    active: bool = False  # an invocation with a Lambda context is running
    cold: bool = True  # none has ended yet in this process
    # Counts with dimensions of their own, added up during an invocation and printed at its
    # end, one EMF document per (metric, dimensions).
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=Counter)


_invocations = _Invocations()


def _count(name: str, value: int, **dimensions: str) -> None:
    if _invocations.active:
        _invocations.counts[(name, tuple(sorted(dimensions.items())))] += value


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request (functions/web/timing.py). One request per invocation: its dimensions
    are the invocation's."""
    if not _invocations.active:
        return
    metrics.add_dimension("route", route)
    metrics.add_dimension("method", method)
    metrics.add_dimension("status", str(status))
    metrics.add_metric("moviedb_http_request_duration_seconds", MetricUnit.Seconds, seconds)


def record_count_lookup(layer: str, result: str) -> None:
    """One lookup of the count cache (functions/movies.py hands it to the cache)."""
    _count("moviedb_count_cache_total", 1, layer=layer, result=result)


def record_events(report: RoundReport) -> None:
    """What a round of the event sender dispatched: uploads by the status they reached, and
    the records of the completed ones by outcome."""
    for status, uploads in report.statuses.items():
        _count("moviedb_uploads_total", uploads, status=status)
    for outcome, rows in report.rows.items():
        _count("moviedb_rows_ingested_total", rows, outcome=outcome)


class _Stdout:
    """sys.stdout as it is when a record is written, as `print` (the EMF metrics) has it:
    what Lambda sends to CloudWatch Logs."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@functools.cache
def powertools_logger() -> Logger:
    """Powertools' logger, made at the first invocation (a process that runs none, such as
    `moviedb serve`, which imports the routers and so this module, makes none), and every
    logger's records through its handler on the root logger, instead of the Lambda runtime's
    own handler, at MOVIEDB_LOG_LEVEL."""
    # `name`: the logger that logged (functions.core.ingest.pipeline, ...)
    made = Logger(service=SERVICE, stream=cast(IO[str], _Stdout()), name="%(name)s")
    handler = made.registered_handler
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(get_settings().log_level.upper())
    logging.getLogger(made.name).removeHandler(handler)  # its own records reach it once
    return made


@functools.cache
def _tracer() -> Tracer | None:
    if importlib.util.find_spec("aws_xray_sdk") is None:
        return None
    tracer = Tracer(service=SERVICE, auto_patch=False)
    if tracer.disabled:
        return None
    tracer.patch(["botocore", "httpx"])
    return tracer


@functools.cache
def _instrumented(handler: Handler, correlation_id_path: str | None) -> Handler:
    def call(event: dict[str, Any], context: Any) -> Any:
        return handler(event, context)

    call.__name__ = "handler"  # the trace's subsegment, "## handler", as every entry point names it
    instrumented: Handler = call
    tracer = _tracer()
    if tracer is not None:
        instrumented = tracer.capture_lambda_handler(instrumented, capture_response=False)
    return powertools_logger().inject_lambda_context(
        instrumented, correlation_id_path=correlation_id_path, clear_state=True
    )


def _flush(context: Any) -> None:
    if _invocations.cold:
        _invocations.cold = False
        metrics.provider.add_cold_start_metric(context)
    for (name, dimensions), value in _invocations.counts.items():
        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension("service", SERVICE)
            for key, dimension in dimensions:
                metric.add_dimension(key, dimension)
    _invocations.counts.clear()
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()


def lambda_entry(handler: Handler, *, correlation_id_path: str | None = None) -> Handler:
    """`handler` as a Lambda entry point: Powertools' logging keys for the invocation, its
    metrics printed at the end (even when it raised), a trace when tracing is on."""

    @functools.wraps(handler)
    def entry(event: dict[str, Any], context: Any = None) -> Any:
        if context is None:  # not on Lambda: the local poller, tests
            return handler(event, context)
        instrumented = _instrumented(handler, correlation_id_path)
        _invocations.active = True
        try:
            return instrumented(event, context)
        finally:
            _invocations.active = False
            _flush(context)
            powertools_logger().clear_state()  # no invocation's keys on a record outside it

    return entry
