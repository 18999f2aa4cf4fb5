"""What the Lambda handlers print for CloudWatch (functions/telemetry.py, Powertools): the
metrics as EMF documents and the logs as JSON objects with the invocation's keys, one per line
on stdout, read back from the captured stdout of real invocations (recorded events, a Lambda
context as the runtime passes it, the real PostgreSQL, moto's in-process S3)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from functions import ingest as ingest_function
from functions import movies, notify, presigned
from functions.core.catalogue.counts import count_cache
from tests.api_support import API_KEY, api_env
from tests.conftest import REPO
from tests.integration.s3_support import RECORDED_KEY, SAMPLE, put, recorded, s3
from tests.lambda_context import lambda_context

__all__ = ["api_env", "s3"]

EVENTS = Path(__file__).resolve().parents[1] / "events"
REQUEST_ID = "3f1d2c4b-0a9e-4e8f-b7c6-5d4e3f2a1b0c"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], list[dict]]:
    """(EMF documents, log records) printed on stdout; every line is one JSON object."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return [d for d in lines if "_aws" in d], [d for d in lines if "_aws" not in d]


def emf(documents: list[dict], name: str) -> list[tuple[dict[str, str], float]]:
    """(dimensions, value) of every document that carries metric `name`, checked against the
    EMF specification: the namespace, the metric's definition, its dimensions at top level."""
    found = []
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        definitions = {m["Name"]: m for m in directive["Metrics"]}
        if name not in definitions:
            continue
        assert directive["Namespace"] == "moviedb"
        [keys] = directive["Dimensions"]
        dimensions = {key: document[key] for key in keys}
        value = document[name]
        found.append((dimensions, value[0] if isinstance(value, list) else value))
    return found


def test_a_movies_request_prints_its_duration_and_count_lookups_as_emf(
    api_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = count_cache()
    assert cache is not None
    cache.clear()
    answer = movies.handler(event("movies_list"), lambda_context("moviedb-dev-movies"))
    assert answer["statusCode"] == 200, answer
    documents, _ = printed(capsys)

    [(dimensions, seconds)] = emf(documents, "moviedb_http_request_duration_seconds")
    assert dimensions == {
        "service": "moviedb",
        "route": "/api/v1/movies",
        "method": "GET",
        "status": "200",
    }
    assert 0 < seconds < 10
    [unit] = [
        m["Unit"]
        for d in documents
        for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if m["Name"] == "moviedb_http_request_duration_seconds"
    ]
    assert unit == "Seconds"
    lookups = {
        (dims["layer"], dims["result"]): value
        for dims, value in emf(documents, "moviedb_count_cache_total")
    }
    assert lookups == {("process", "miss"): 1, ("shared", "miss"): 1}

    movies.handler(event("movies_list"), lambda_context("moviedb-dev-movies"))
    documents, _ = printed(capsys)
    lookups = {
        (dims["layer"], dims["result"]): value
        for dims, value in emf(documents, "moviedb_count_cache_total")
    }
    assert lookups == {("process", "hit"): 1}  # the second time: this container's layer


def test_http_logs_are_json_with_the_invocation_and_the_api_gateway_request_id(
    api_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A presigned upload with no bucket configured is a 503, which the API logs."""
    monkeypatch.delenv("S3_BUCKET", raising=False)
    request = event("movies_list")
    request.update(
        routeKey="POST /api/v1/uploads",
        rawPath="/api/v1/uploads",
        rawQueryString="",
        body=json.dumps({"filename": "movies.csv", "size": 1000}),
    )
    request.pop("queryStringParameters")
    request["headers"] |= {"content-type": "application/json", "x-api-key": API_KEY}
    request["requestContext"]["http"] |= {"method": "POST", "path": "/api/v1/uploads"}
    request["requestContext"] |= {"routeKey": "POST /api/v1/uploads", "requestId": "Zx9-req="}
    answer = presigned.handler(request, lambda_context("moviedb-dev-presigned", REQUEST_ID))
    assert answer["statusCode"] == 503, answer
    documents, logs = printed(capsys)

    [record] = [r for r in logs if r["message"] == "service unavailable"]
    assert record["level"] == "WARNING"
    assert record["service"] == "moviedb"
    assert record["function_request_id"] == REQUEST_ID
    assert record["function_name"] == "moviedb-dev-presigned"
    assert record["correlation_id"] == "Zx9-req="  # the API Gateway request id
    assert isinstance(record["cold_start"], bool)
    assert record["code"] == "s3_not_configured"  # the core's `extra`
    [(dimensions, _)] = emf(documents, "moviedb_http_request_duration_seconds")
    assert dimensions["status"] == "503" and dimensions["route"] == "/api/v1/uploads"


def test_an_ingested_file_counts_its_upload_and_rows_and_logs_its_upload_id(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put(s3, RECORDED_KEY, SAMPLE.read_bytes())
    context = lambda_context("moviedb-dev-ingest", REQUEST_ID)
    answer = ingest_function.handler(recorded("sqs_s3_put_moto.json"), context)
    assert answer == {"batchItemFailures": []}
    documents, logs = printed(capsys)

    statuses = {dims["status"]: value for dims, value in emf(documents, "moviedb_uploads_total")}
    assert statuses == {"completed": 1}
    rows = {dims["outcome"]: value for dims, value in emf(documents, "moviedb_rows_ingested_total")}
    assert rows == {"inserted": 10, "updated": 0, "unchanged": 0, "rejected": 0}
    for dims, _ in emf(documents, "moviedb_rows_ingested_total"):
        assert set(dims) == {"service", "outcome"}

    [finished] = [r for r in logs if r["message"] == "ingestion finished"]
    uuid.UUID(finished["upload_id"])
    assert finished["function_request_id"] == REQUEST_ID
    assert finished["function_name"] == "moviedb-dev-ingest"
    assert finished["name"] == "functions.core.ingest.pipeline"  # the logger
    assert all(r["function_request_id"] == REQUEST_ID for r in logs)

    # The same event again (SQS delivers at least once): nothing new happened, nothing counted.
    assert ingest_function.handler(recorded("sqs_s3_put_moto.json"), context) == {
        "batchItemFailures": []
    }
    documents, _ = printed(capsys)
    assert emf(documents, "moviedb_uploads_total") == []


def test_the_scheduled_sender_counts_what_it_dispatches(
    s3: Any, capsys: pytest.CaptureFixture[str], clean_db: str
) -> None:
    """Events the ingestion wrote but did not send (it ran outside Lambda: no context) are
    counted by the `notify` function that dispatches them."""
    put(s3, RECORDED_KEY, SAMPLE.read_bytes())
    assert ingest_function.handler(recorded("sqs_s3_put_moto.json")) == {"batchItemFailures": []}
    documents, logs = printed(capsys)
    assert documents == []  # not on Lambda: no metrics
    assert not [r for r in logs if "function_request_id" in r]  # nor an invocation's keys
    with psycopg.connect(clean_db) as conn:
        pending = conn.execute("SELECT count(*) FROM upload_events WHERE dispatched_at IS NULL")
        assert pending.fetchone() == (1,)

    report = notify.handler({"source": "aws.events"}, lambda_context("moviedb-dev-notify"))
    assert report["statuses"] == {"completed": 1}
    documents, _ = printed(capsys)
    statuses = {dims["status"]: value for dims, value in emf(documents, "moviedb_uploads_total")}
    assert statuses == {"completed": 1}


TRACED = """
import json, sys
from tests.lambda_context import lambda_context
from functions import ping
answer = ping.handler(json.load(open(sys.argv[1])), lambda_context("moviedb-dev-ping"))
print(answer["statusCode"])
"""


def test_with_the_xray_sdk_on_lambda_an_invocation_sends_its_trace(database_url: str) -> None:
    """In a process of its own (the X-Ray SDK patches botocore and httpx for good), as Lambda
    runs it with active tracing: the SDK installed (here it is, for moto), the trace header in
    the environment, and the X-Ray daemon's address, here a UDP socket of the test's."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(30)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LAMBDA_TASK_ROOT": str(REPO),
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "_X_AMZN_TRACE_ID": "Root=1-6745a1b2-0e3f2c1d4b5a69788796a5b4;Parent=53995c3f42cd8ad8;"
            "Sampled=1",
        }
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        result = subprocess.run(
            [sys.executable, "-c", TRACED, str(EVENTS / "ping.json")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().splitlines()[-1] == "200"
        header, _, body = daemon.recv(65536).decode().partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(body)
    assert segment["name"] == "## handler"
    assert segment["type"] == "subsegment"
    assert segment["trace_id"] == "1-6745a1b2-0e3f2c1d4b5a69788796a5b4"
    assert segment["annotations"]["Service"] == "moviedb"


def test_outside_lambda_no_tracer_is_made() -> None:
    """The SDK is installed here, but Powertools says tracing is off outside Lambda (and the
    artifact does not ship the SDK at all: tests/deploy run its handlers on a Lambda context)."""
    from functions import telemetry

    assert telemetry._tracer() is None
