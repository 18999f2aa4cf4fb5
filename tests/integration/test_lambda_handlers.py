"""Each Lambda `handler` called with API Gateway HTTP API (payload v2) events, the golden files
in tests/events/, against the real PostgreSQL. The full app's handler answers the same."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from functions import api, ingest, ping, upload, uploads
from tests.api_support import API_KEY, api_env, reset_caches
from tests.integration.s3_support import s3
from tests.lambda_context import lambda_context

__all__ = ["api_env", "s3"]

EVENTS = Path(__file__).resolve().parents[1] / "events"
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
CONTEXT = lambda_context("moviedb-api")


def event(name: str, upload_id: uuid.UUID | str | None = None) -> dict[str, Any]:
    text = (EVENTS / f"{name}.json").read_text()
    if upload_id is not None:
        text = text.replace(PLACEHOLDER, str(upload_id))
    return json.loads(text)


def body_of(answer: dict[str, Any]) -> str:
    raw = answer["body"]
    return base64.b64decode(raw).decode() if answer.get("isBase64Encoded") else raw


def json_of(answer: dict[str, Any]) -> Any:
    assert answer["headers"]["content-type"].startswith("application/json")
    return json.loads(body_of(answer))


def error_code(answer: dict[str, Any]) -> str:
    body = json_of(answer)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


def test_the_golden_upload_event_is_the_seed_request_form() -> None:
    upload_event = event("upload")
    assert upload_event["version"] == "2.0"
    assert upload_event["rawPath"] == "/api/v1/upload/"
    assert upload_event["rawQueryString"] == "use_celery=false"
    assert upload_event["headers"]["x-api-key"] == API_KEY
    assert b'name="file"' in base64.b64decode(upload_event["body"])


@pytest.mark.parametrize("handler", [ping.handler, api.handler], ids=["ping", "api"])
def test_ping_handler(api_env: Path, handler) -> None:
    answer = handler(event("ping"), CONTEXT)
    assert answer["statusCode"] == 200
    assert json_of(answer) == "Service is up!"


def test_health_handler(api_env: Path) -> None:
    answer = ping.handler(event("health"), CONTEXT)
    assert answer["statusCode"] == 200, answer
    assert json_of(answer)["database"] == "ok"


@pytest.fixture
def on_lambda(api_env: Path, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API as AWS runs it: files stored in the bucket, accepted uploads handed to the ingest
    function through its SQS queue (moto's in-process S3 and SQS); the queue's client."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="moviedb-ingest")["QueueUrl"]
    monkeypatch.setenv("MOVIEDB_INGEST_DISPATCH", "queue")
    monkeypatch.setenv("SQS_QUEUE_URL", queue_url)
    reset_caches()
    yield SimpleNamespace(client=sqs, url=queue_url)
    reset_caches()


def deliver(queue: Any) -> dict[str, Any]:
    """What Lambda's event source mapping does: the queue's messages as one SQS event, to the
    ingest handler; its answer."""
    messages = queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:moviedb-ingest",
        }
        for m in messages.get("Messages", [])
    ]
    assert records, "nothing was handed to the ingest queue"
    return ingest.handler({"Records": records}, CONTEXT)


def test_upload_then_status_then_rejects_through_the_handlers(on_lambda: Any) -> None:
    answer = upload.handler(event("upload"), CONTEXT)
    assert answer["statusCode"] == 202, answer
    accepted = json_of(answer)
    assert accepted["status_url"] == (
        "https://abc123xyz9.execute-api.eu-west-1.amazonaws.com/api/v1/uploads/"
        f"{accepted['upload_id']}"
    )
    # Nothing runs in the API invocation after its answer: the upload waits for `ingest`.
    status = uploads.handler(event("upload_status", accepted["upload_id"]), CONTEXT)
    assert status["statusCode"] == 200
    assert json_of(status)["status"] == "pending"

    assert deliver(on_lambda) == {"batchItemFailures": []}
    status = uploads.handler(event("upload_status", accepted["upload_id"]), CONTEXT)
    assert json_of(status)["status"] == "completed"
    assert json_of(status)["counts"]["inserted"] == 10

    again = api.handler(event("upload"), CONTEXT)
    assert again["statusCode"] == 200 and json_of(again)["duplicate"] is True

    listed = uploads.handler(event("uploads_list"), CONTEXT)
    assert [u["upload_id"] for u in json_of(listed)["items"]] == [accepted["upload_id"]]

    rejects = uploads.handler(event("upload_rejects", accepted["upload_id"]), CONTEXT)
    assert rejects["statusCode"] == 200
    assert rejects["headers"]["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(body_of(rejects)))) == [
        ["line", "column", "reason", "raw_record"]
    ]


def test_upload_handler_without_key_is_401(api_env: Path) -> None:
    answer = upload.handler(event("upload_without_key"), CONTEXT)
    assert answer["statusCode"] == 401
    assert error_code(answer) == "missing_api_key"


def test_upload_handler_with_a_wrong_header_is_400(api_env: Path) -> None:
    answer = upload.handler(event("upload_wrong_header"), CONTEXT)
    assert answer["statusCode"] == 400
    assert error_code(answer) == "invalid_csv_header"


def test_status_handler_for_an_unknown_upload_is_404(api_env: Path) -> None:
    for name in ("upload_status", "upload_rejects"):
        answer = uploads.handler(event(name, uuid.uuid4()), CONTEXT)
        assert answer["statusCode"] == 404
        assert error_code(answer) == "upload_not_found"


def test_status_handler_for_a_malformed_id_is_422(api_env: Path) -> None:
    answer = uploads.handler(event("upload_status", "not-a-uuid"), CONTEXT)
    assert answer["statusCode"] == 422
    assert error_code(answer) == "invalid_request"


def test_a_router_handler_answers_only_its_own_routes(api_env: Path) -> None:
    answer = ping.handler(event("uploads_list"), CONTEXT)
    assert answer["statusCode"] == 404
    assert error_code(answer) == "not_found"
