"""`moviedb poll`: carries the ingest queue's messages (S3 events, and uploads the API handed
off) to functions/ingest.py, as Lambda's event source mapping does on AWS. It is what the
docker-compose `poller` service and `moviedb local up` run.

It long-polls the ingest queue, one message at a time, and hands each to `functions.ingest.handler`
as an SQS event of one record. The message is deleted only when the handler reports it done:
a failure leaves it in the queue (visible again after the queue's visibility timeout, then
dead-lettered after maxReceiveCount receives), and a poller that dies mid-ingest leaves it to
be delivered again. While the handler runs, the message's visibility is extended, so a long
ingestion is not handed to a second poller.

Run it as `moviedb poll` (AWS_ENDPOINT_URL, SQS_QUEUE_NAME or SQS_QUEUE_URL, region and
credentials from the environment).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.core.config import get_settings
from functions.core.s3.client import sqs_client
from functions.logs import configure_logging

logger = logging.getLogger("moviedb.poller")

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_sqs_event(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping would pass for this one message."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        ]
    }


class _VisibilityKeeper:
    """Extends a message's visibility while it is being handled."""

    def __init__(self, sqs: Any, queue_url: str, receipt: str, timeout: int) -> None:
        self._sqs, self._url, self._receipt, self._timeout = sqs, queue_url, receipt, timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(max(1.0, self._timeout / 3)):
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=self._receipt, VisibilityTimeout=self._timeout
                )
            except (BotoCoreError, ClientError) as e:
                logger.warning("could not extend the message's visibility", extra={"error": str(e)})

    def __enter__(self) -> _VisibilityKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class Poller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Handler,
        *,
        wait_seconds: int = 20,
        region: str = "us-east-1",
    ) -> None:
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        self.wait_seconds, self.region = wait_seconds, region
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"]
        )["Attributes"]
        self.queue_arn: str = attributes["QueueArn"]
        self.visibility_timeout = int(attributes.get("VisibilityTimeout", 30))

    def poll_once(self) -> int:
        """Receive (long poll) and handle at most one message; return how many were handled."""
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        for message in messages:
            self.handle(message)
        return len(messages)

    def handle(self, message: dict[str, Any]) -> bool:
        """Hand one message to the handler; delete it when done. True when it was done."""
        event = lambda_sqs_event(message, self.queue_arn, self.region)
        log = {
            "message_id": message["MessageId"],
            "receive_count": message.get("Attributes", {}).get("ApproximateReceiveCount"),
        }
        with _VisibilityKeeper(
            self.sqs, self.queue_url, message["ReceiptHandle"], self.visibility_timeout
        ):
            try:
                result = self.handler(event, None)
            except Exception:
                logger.exception("handler raised, the message will be delivered again", extra=log)
                return False
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        if message["MessageId"] in failed:
            logger.warning("event failed, the message will be delivered again", extra=log)
            return False
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        logger.info("event done, message deleted", extra=log)
        return True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError) as e:
                logger.warning("cannot reach the queue, retrying", extra={"error": str(e)})
                stop.wait(2.0)


def resolve_queue_url(sqs: Any, stop: threading.Event) -> str | None:
    """The ingest queue's URL, waiting for the queue to exist (its creator may start later)."""
    settings = get_settings()
    if settings.sqs_queue_url:
        return settings.sqs_queue_url
    announced = False
    while not stop.is_set():
        try:
            url: str = sqs.get_queue_url(QueueName=settings.sqs_queue_name)["QueueUrl"]
            return url
        except (BotoCoreError, ClientError) as e:
            if not announced:
                logger.info(
                    "waiting for the ingest queue",
                    extra={"queue": settings.sqs_queue_name, "error": str(e)},
                )
                announced = True
            stop.wait(1.0)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="moviedb poll",
        description="Long-poll the ingest queue and hand each S3 event to functions/ingest.py.",
    )
    parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=not sys.stderr.isatty())
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from functions import ingest

    stop = threading.Event()
    busy = threading.Event()

    def _on_term(signum: int, frame: object) -> None:
        """Stop: at once when idle, after the current message when handling one."""
        stop.set()
        if not busy.is_set():
            raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, _on_term)
    sqs = sqs_client()
    try:
        queue_url = resolve_queue_url(sqs, stop)
        if queue_url is None:
            return 0

        def handle(event: dict[str, Any], context: Any) -> Any:
            busy.set()
            try:
                return ingest.handler(event, context)
            finally:
                busy.clear()

        poller = Poller(
            sqs,
            queue_url,
            handle,
            wait_seconds=settings.sqs_wait_seconds,
            region=settings.aws_region,
        )
        logger.info(
            "polling", extra={"queue_url": queue_url, "endpoint": settings.aws_endpoint_url}
        )
        poller.run(stop)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
