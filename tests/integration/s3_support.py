"""What the S3 door's tests share: moto's in-process S3, recorded events, CSV bodies."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws

from functions.core.config import get_settings
from functions.core.s3.client import reset_clients

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "tests" / "events"
SAMPLE = REPO / "tests" / "data" / "movies_sample_real.csv"
BUCKET = "moviedb-local"  # the bucket the recorded events name
RECORDED_KEY = "incoming/Films été 2024+extra (v2).csv"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def s3_event(key: str, etag: str, *, bucket: str = BUCKET, version_id: str | None = None) -> dict:
    """The recorded AWS-shaped event, about another object."""
    event = copy.deepcopy(recorded("s3_put_aws.json"))
    obj = event["Records"][0]["s3"]["object"]
    obj.update(key=quote_plus(key, safe="/"), eTag=etag)
    obj.pop("versionId")
    if version_id:
        obj["versionId"] = version_id
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    return event


def sqs_event(*s3_events: dict[str, Any]) -> dict[str, Any]:
    """An SQS event (as Lambda passes it) with one message per S3 event, ids m0, m1, ..."""
    template = recorded("sqs_s3_put_localstack.json")["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"m{i}", "body": json.dumps(body)}
            for i, body in enumerate(s3_events)
        ]
    }


def reset_caches() -> None:
    get_settings.cache_clear()
    reset_clients()


@pytest.fixture
def s3(clean_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's in-process S3 with the bucket, an empty database, settings pointing at both."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("S3_PUBLIC_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "S3_BUCKET": BUCKET,
        "S3_INCOMING_PREFIX": "incoming/",
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    monkeypatch.undo()
    reset_caches()


def put(client: Any, key: str, body: bytes) -> str:
    """Put an object; its ETag."""
    return str(client.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"'))
