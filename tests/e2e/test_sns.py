"""Every upload event is also published to SNS: through a real emulator process (moto's
server), a queue subscribed to the topic receives the event of a completed upload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from functions.core.config import get_settings
from functions.core.events.sender import send_round
from functions.core.ingest.intake import accept_upload
from functions.core.ingest.pipeline import run_upload
from functions.core.s3.client import reset_clients
from local.emulator import start_emulator
from tests.api_support import api_env, csv_bytes, reset_caches, row

__all__ = ["api_env"]


@pytest.fixture
def topic_and_queue(
    api_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, object]]:
    emulator = start_emulator("moto", log=tmp_path / "moto.log")
    try:
        for name, value in {
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        sns = boto3.client("sns", endpoint_url=emulator.endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=emulator.endpoint, region_name="us-east-1")
        topic = sns.create_topic(Name="moviedb-upload-events")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="people")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("MOVIEDB_SNS_TOPIC_ARN", topic)
        reset_caches()
        reset_clients()
        yield topic, queue_url, sqs
    finally:
        emulator.stop()
        monkeypatch.undo()
        reset_caches()
        reset_clients()


def test_a_completed_upload_is_published_to_the_topic(
    topic_and_queue: tuple[str, str, object], database_url: str
) -> None:
    _, queue_url, sqs = topic_and_queue
    accepted = accept_upload([csv_bytes(row("Alpha"))], filename="m.csv")
    assert run_upload(accepted.upload.id).status == "completed"
    with psycopg.connect(database_url, autocommit=True) as conn:
        report = send_round(conn, settings=get_settings())
    assert report.dispatched == 1

    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]  # type: ignore[attr-defined]
    (message,) = messages
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "upload.completed"
    event = json.loads(envelope["Message"])
    assert event["event"] == "upload.completed"
    assert event["upload"]["upload_id"] == str(accepted.upload.id)
    assert event["upload"]["counts"]["inserted"] == 1
