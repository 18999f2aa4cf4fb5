"""The scheduled `reap` Lambda function on the real PostgreSQL, with moto's SQS: a stalled upload
is handed to the ingest function's queue again, and `ingest` then completes it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import psycopg
import pytest

from functions import ingest, reap
from functions.core.ingest.intake import accept_upload
from functions.core.uploads.records import get_upload
from tests.api_support import api_env, csv_bytes, reset_caches, row
from tests.integration.s3_support import s3
from tests.lambda_context import lambda_context

__all__ = ["api_env", "s3"]

CONTEXT = lambda_context("moviedb-reap", "r-1")
SCHEDULED_EVENT = {
    "version": "0",
    "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "time": "2026-12-03T10:00:00Z",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/moviedb-dev-reap"],
    "detail": {},
}


@pytest.fixture
def queue(api_env: Path, s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="moviedb-ingest")["QueueUrl"]
    monkeypatch.setenv("SQS_QUEUE_URL", url)
    reset_caches()
    return SimpleNamespace(client=sqs, url=url)


def test_a_killed_ingestion_is_handed_to_the_ingest_queue_again(
    queue: Any, database_url: str
) -> None:
    upload = accept_upload([csv_bytes(row("Alpha"))], filename="m.csv").upload
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(  # its ingest invocation timed out: the lease ran out, nobody renews it
            "UPDATE uploads SET status = 'processing', attempts = 1,"
            " lease_owner = '169.254.1.1:8:x', lease_expires_at = now() - interval '5 minutes',"
            " updated_at = now() - interval '10 minutes' WHERE id = %s",
            (upload.id,),
        )
    answer = reap.handler(SCHEDULED_EVENT, CONTEXT)
    assert answer == {"dispatched": [str(upload.id)]}
    assert reap.handler(SCHEDULED_EVENT, CONTEXT) == {"dispatched": []}  # once per lease period

    (message,) = queue.client.receive_message(QueueUrl=queue.url)["Messages"]
    assert json.loads(message["Body"])["moviedb_upload"]["upload_id"] == str(upload.id)
    event = {
        "Records": [
            {"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}
        ]
    }
    assert ingest.handler(event, CONTEXT) == {"batchItemFailures": []}
    with psycopg.connect(database_url) as conn:
        assert get_upload(conn, upload.id).status == "completed"
