"""Create the S3 drop-in resources: bucket, ingest queue, dead-letter queue, bucket notification.

One script for every place that needs them: LocalStack's init hook (docker-compose), the local
runner (`moviedb local up`), the end-to-end tests. Safe to run again: it converges on the same
state. It imports nothing from the project (LocalStack's container has only boto3), so it reads
its configuration from the environment itself:

    S3_BUCKET              bucket name                          (default moviedb-local)
    S3_INCOMING_PREFIX     prefix whose .csv objects are ingested (default incoming/)
    SQS_QUEUE_NAME         queue the bucket notifies            (default moviedb-ingest)
    SQS_DLQ_NAME           dead-letter queue                    (default moviedb-ingest-dlq)
    SQS_MAX_RECEIVE_COUNT  deliveries before a message is dead-lettered (default 3)
    SQS_VISIBILITY_TIMEOUT seconds a received message stays hidden (default 90)
    AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, credentials: the usual boto3 way.

Run: `python infra/s3_resources.py` (prints the resources as JSON).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the maximum: keep failures for someone to look at


@dataclass(frozen=True)
class ResourceConfig:
    bucket: str = "moviedb-local"
    incoming_prefix: str = "incoming/"
    suffix: str = ".csv"
    queue_name: str = "moviedb-ingest"
    dlq_name: str = "moviedb-ingest-dlq"
    max_receive_count: int = 3
    visibility_timeout: int = 90
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ResourceConfig:
        env = dict(os.environ if env is None else env)
        default = cls()
        return cls(
            bucket=env.get("S3_BUCKET") or default.bucket,
            incoming_prefix=env.get("S3_INCOMING_PREFIX") or default.incoming_prefix,
            queue_name=env.get("SQS_QUEUE_NAME") or default.queue_name,
            dlq_name=env.get("SQS_DLQ_NAME") or default.dlq_name,
            max_receive_count=int(env.get("SQS_MAX_RECEIVE_COUNT") or default.max_receive_count),
            visibility_timeout=int(env.get("SQS_VISIBILITY_TIMEOUT") or default.visibility_timeout),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or default.region,
        )


@dataclass(frozen=True)
class Resources:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def _ensure_bucket(s3: Any, config: ResourceConfig) -> None:
    kwargs: dict[str, Any] = {"Bucket": config.bucket}
    if config.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    """Create the queue, or bring an existing one to these attributes; return (url, arn)."""
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _queue_policy(queue_arn: str, bucket: str) -> str:
    """Let the bucket (and only it) send to the queue, as AWS requires."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                }
            ],
        }
    )


def ensure_resources(
    config: ResourceConfig, session: boto3.session.Session | None = None
) -> Resources:
    """Create what is missing, bring the rest to `config`; `session` carries the credentials
    (default: the usual boto3 chain)."""
    session = session or boto3.session.Session(region_name=config.region)
    s3 = session.client("s3", endpoint_url=config.endpoint_url)
    sqs = session.client("sqs", endpoint_url=config.endpoint_url)

    _ensure_bucket(s3, config)
    dlq_url, dlq_arn = _ensure_queue(
        sqs, config.dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
    )
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(config.max_receive_count)}
    queue_url, queue_arn = _ensure_queue(
        sqs,
        config.queue_name,
        {
            "VisibilityTimeout": str(config.visibility_timeout),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": _queue_policy(queue_arn, config.bucket)}
    )
    s3.put_bucket_notification_configuration(
        Bucket=config.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "moviedb-ingest-csv",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": config.incoming_prefix},
                                {"Name": "suffix", "Value": config.suffix},
                            ]
                        }
                    },
                }
            ]
        },
    )
    return Resources(config.bucket, queue_url, queue_arn, dlq_url, dlq_arn)


def main() -> int:
    resources = ensure_resources(ResourceConfig.from_env())
    print(json.dumps(asdict(resources), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
