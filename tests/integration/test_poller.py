"""functions/poller.py: a message is deleted only when the handler is done with it, and stays hidden
while it is being handled (moto's in-process SQS; the handler is a stand-in)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.poller import Poller


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def queue(sqs: Any, visibility: int = 30) -> str:
    url: str = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": str(visibility)})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody='{"Records": []}')
    return url


def depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_a_handled_message_is_deleted_and_the_handler_gets_a_lambda_sqs_event(sqs: Any) -> None:
    url = queue(sqs)
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        events.append(event)
        return {"batchItemFailures": []}

    assert Poller(sqs, url, handler, wait_seconds=0).poll_once() == 1

    [event] = events
    [record] = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":q")
    assert record["body"] == '{"Records": []}'
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert depth(sqs, url) == (0, 0)


@pytest.mark.parametrize("outcome", ["reported", "raised"])
def test_a_failed_message_is_left_for_redelivery(sqs: Any, outcome: str) -> None:
    url = queue(sqs)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if outcome == "raised":
            raise RuntimeError("database down")
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    Poller(sqs, url, handler, wait_seconds=0).poll_once()

    assert depth(sqs, url) == (0, 1)  # not deleted: back once its visibility timeout ends


def test_a_message_stays_hidden_while_it_is_handled_longer_than_its_visibility(
    sqs: Any,
) -> None:
    url = queue(sqs, visibility=2)
    redelivered: list[Any] = []
    stop = threading.Event()

    def other_poller() -> None:
        while not stop.is_set():
            redelivered.extend(sqs.receive_message(QueueUrl=url).get("Messages", []))
            time.sleep(0.2)

    def slow_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        watcher = threading.Thread(target=other_poller)
        watcher.start()
        time.sleep(5)  # 2.5 visibility timeouts
        stop.set()
        watcher.join()
        return {"batchItemFailures": []}

    Poller(sqs, url, slow_handler, wait_seconds=0).poll_once()

    assert redelivered == []
    assert depth(sqs, url) == (0, 0)
