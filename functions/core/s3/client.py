"""The one place AWS clients are made: S3 (storage and the S3 door), the S3 client that signs
presigned requests for the endpoint clients reach, SQS (the ingest queue) and SNS (upload
events). Each is created
once per process, on first use (boto3 is imported only then)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from functions.core.config import get_settings


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """The S3 client (AWS_ENDPOINT_URL selects an emulator)."""
    import boto3

    settings = get_settings()
    return boto3.client(
        "s3", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


@lru_cache(maxsize=1)
def presign_client() -> Any:
    """The S3 client that signs presigned requests: for the endpoint clients reach."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    endpoint = settings.s3_public_endpoint_url or settings.aws_endpoint_url
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.aws_region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "auto"},
        ),
    )


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    """The SQS client (the ingest queue: the local poller, the hand-off of uploads on AWS)."""
    import boto3

    settings = get_settings()
    return boto3.client(
        "sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


@lru_cache(maxsize=1)
def sns_client() -> Any:
    """The SNS client (every upload event is also published to MOVIEDB_SNS_TOPIC_ARN)."""
    import boto3

    settings = get_settings()
    return boto3.client(
        "sns", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
    )


def reset_clients() -> None:
    """Forget the clients (tests that point the settings at another endpoint)."""
    for client in (s3_client, presign_client, sqs_client, sns_client):
        client.cache_clear()
