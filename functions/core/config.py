"""The one settings object: every knob the service has, read from the environment once.

Local runs, docker-compose and AWS differ only in these environment variables.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3
ENV_PREFIX = "MOVIEDB_"


def _env(name: str, *older: str) -> AliasChoices:
    """The environment names of a setting: `MOVIEDB_<NAME>` first, then the plain name (the
    standard one for DATABASE_URL, REDIS_URL, AWS_*, and what earlier versions read), then any
    older names. Names are case-insensitive."""
    return AliasChoices(f"{ENV_PREFIX}{name.upper()}", name, *older)


def default_data_dir() -> Path:
    """Where the embedded database, stored uploads and the generated API key live.

    Not under root's home directory: the embedded PostgreSQL runs as its own system user
    and must be able to reach its data directory.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/moviedb")
    return Path(platformdirs.user_data_dir("moviedb"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        validation_alias=_env("database_url"),
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in data_dir.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias=_env("data_dir"),
    )
    max_error_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        validation_alias=_env("max_error_rate"),
        description="Fail an upload whose share of rejected rows exceeds this (0..1).",
    )
    max_upload_bytes: int = Field(validation_alias=_env("max_upload_bytes"), default=GIB, gt=0)
    api_key: str | None = Field(default=None, validation_alias=_env("api_key"))
    cursor_secret: str = Field(
        default="moviedb-cursor-v1",
        validation_alias=_env("cursor_secret"),
        description="Key that signs the movie listing's `next_cursor` (HMAC-SHA256). Set it "
        "in production so clients cannot forge cursors; cursors only carry public sort values.",
    )
    count_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        validation_alias=_env("count_cache_seconds"),
        description="How long an exact movie count per filter set is reused (0: never cached). "
        "A completed upload invalidates it at once.",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias=_env("redis_url"))
    s3_bucket: str | None = Field(default=None, validation_alias=_env("s3_bucket"))
    s3_incoming_prefix: str = Field(
        default="incoming/", validation_alias=_env("s3_incoming_prefix")
    )
    s3_public_endpoint_url: str | None = Field(
        validation_alias=_env("s3_public_endpoint_url"),
        default=None,
        description="Endpoint that presigned URLs point at, when clients reach S3 by another "
        "address than the service (docker-compose: the host's port of LocalStack). "
        "Unset: AWS_ENDPOINT_URL.",
    )
    s3_presign_expires_seconds: int = Field(
        validation_alias=_env("s3_presign_expires_seconds"),
        default=3600,
        gt=0,
        le=7 * 24 * 3600,
        description="Lifetime of a presigned upload.",
    )
    sqs_queue_name: str = Field(
        validation_alias=_env("sqs_queue_name"),
        default="moviedb-ingest",
        description="Queue the bucket notifies of new objects.",
    )
    sqs_queue_url: str | None = Field(
        validation_alias=_env("sqs_queue_url"),
        default=None,
        description="The ingest queue's URL. Unset: looked up by SQS_QUEUE_NAME.",
    )
    sqs_dlq_name: str = Field(default="moviedb-ingest-dlq", validation_alias=_env("sqs_dlq_name"))
    sqs_max_receive_count: int = Field(
        validation_alias=_env("sqs_max_receive_count"),
        default=3,
        ge=1,
        description="Deliveries of an event before it is dead-lettered.",
    )
    sqs_visibility_timeout: int = Field(
        validation_alias=_env("sqs_visibility_timeout"),
        default=90,
        ge=1,
        description="Seconds a received event stays hidden; the local poller extends it while "
        "the ingestion runs. Longer than MOVIEDB_UPLOAD_LEASE_SECONDS, so that a redelivery "
        "after a crash finds the dead worker's lease expired.",
    )
    sqs_wait_seconds: int = Field(
        validation_alias=_env("sqs_wait_seconds"),
        default=20,
        ge=0,
        le=20,
        description="Long-poll wait of the local poller.",
    )
    localstack_venv: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("moviedb")) / "localstack-venv",
        validation_alias=_env("localstack_venv"),
        description="Virtual environment (Python 3.13) with LocalStack, for `moviedb local up "
        "--emulator localstack` and the end-to-end tests (`make localstack` installs it).",
    )
    database_url_ssm_parameter: str | None = Field(
        validation_alias=_env("database_url_ssm_parameter"),
        default=None,
        description="Name of an SSM parameter (SecureString) holding DATABASE_URL, read once at "
        "start when DATABASE_URL is unset (AWS Lambda; see functions/core/parameters.py).",
    )
    api_key_ssm_parameter: str | None = Field(
        default=None,
        validation_alias=_env("api_key_ssm_parameter"),
        description="Name of an SSM parameter holding MOVIEDB_API_KEY (as above).",
    )
    aws_endpoint_url: str | None = Field(default=None, validation_alias=_env("aws_endpoint_url"))
    aws_region: str = Field(
        default="us-east-1", validation_alias=_env("aws_region", "AWS_DEFAULT_REGION")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("log_level"))
    upload_lease_seconds: int = Field(
        default=60,
        gt=0,
        validation_alias=_env("upload_lease_seconds"),
        description="How long a worker's claim on an upload lasts without a heartbeat.",
    )
    celery_queue: str = Field(
        default="moviedb",
        validation_alias=_env("celery_queue"),
        description="Celery queue the upload tasks go to and the worker consumes by default.",
    )
    celery_visibility_timeout: int = Field(
        default=4 * 3600,
        gt=0,
        validation_alias=AliasChoices(
            "MOVIEDB_CELERY_VISIBILITY_TIMEOUT", "celery_visibility_timeout"
        ),
        description="Seconds before Redis hands an unacknowledged task to another worker; "
        "longer than the longest ingestion (a dead worker's upload is taken over sooner, "
        "through its expired lease).",
    )
    broker_connect_timeout: float = Field(
        default=2.0,
        gt=0,
        validation_alias=_env("broker_connect_timeout"),
        description="Seconds to reach the broker before an upload answers 503.",
    )
    upload_sweep_seconds: float = Field(
        default=15.0,
        gt=0,
        validation_alias=_env("upload_sweep_seconds"),
        description="How often a worker looks for stalled uploads to take over.",
    )
    upload_requeue_seconds: int = Field(
        default=300,
        gt=0,
        validation_alias=_env("upload_requeue_seconds"),
        description="A pending upload untouched this long is sent to the queue again.",
    )

    ingest_dispatch: Literal["in_process", "queue"] = Field(
        default="in_process",
        validation_alias=_env("ingest_dispatch"),
        description="Who runs an upload accepted over HTTP without use_celery: `in_process` "
        "(threads of the API process) or `queue` (the ingest function, through its SQS queue: "
        "set on AWS Lambda, where nothing runs after an API invocation answers).",
    )
    rebuild_share: float = Field(
        default=0.5,
        ge=0,
        validation_alias=_env("rebuild_share"),
        description="A publish that inserts at least this share of the catalogue's movies (and "
        "at least MOVIEDB_REBUILD_MIN_ROWS) builds the catalogue anew, indexes after the rows, "
        "instead of maintaining every index row by row (docs/uploads.md).",
    )
    rebuild_min_rows: int = Field(
        default=10_000,
        ge=0,
        validation_alias=_env("rebuild_min_rows"),
        description="Below this many inserted movies a publish never rebuilds the catalogue.",
    )
    parser_process_min_bytes: int | None = Field(
        default=16 * 1024 * 1024,
        ge=0,
        validation_alias=_env("parser_process_min_bytes"),
        description="Files of at least this many bytes (or of unknown size) are parsed in a "
        "child process, beside the one streaming their rows to PostgreSQL, when more than one "
        "CPU is available (docs/uploads.md); empty: never.",
    )
    history_days: float = Field(
        default=90,
        gt=0,
        validation_alias=_env("history_days"),
        description="How long what a completed upload changed is kept (a revert needs it).",
    )
    s3_review_prefix: str = Field(
        default="review/",
        validation_alias=_env("s3_review_prefix"),
        description="Objects under <incoming prefix><this> stop at `validated` for review.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=_env("public_url"),
        description="The service's URL as its clients reach it: the links in upload events.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        validation_alias=_env("webhook_allow_private"),
        description="Let webhooks point at loopback and private addresses (local use only; "
        "cloud metadata addresses are refused always).",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        validation_alias=_env("webhook_timeout_seconds"),
        description="How long one delivery attempt may take (connect + answer).",
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=30,
        validation_alias=_env("webhook_max_attempts"),
        description="Attempts of a delivery before it is marked failed.",
    )
    webhook_retry_base_seconds: float = Field(
        default=2.0,
        gt=0,
        validation_alias=_env("webhook_retry_base_seconds"),
        description="The first retry's delay; each next one doubles (with jitter).",
    )
    events_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        validation_alias=_env("events_poll_seconds"),
        description="How often the sender looks for events to send and deliveries due.",
    )
    sns_topic_arn: str | None = Field(
        default=None,
        validation_alias=_env("sns_topic_arn"),
        description="SNS topic every upload event is also published to (AWS).",
    )
    database_read_url: str | None = Field(
        default=None,
        validation_alias=_env("database_read_url"),
        description="Streaming replicas for the reads that tolerate a little lag (listing, "
        "uploads list): one URL, or several comma-separated. Unset: the primary serves all.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0,
        ge=0,
        validation_alias=_env("replica_max_lag_seconds"),
        description="A replica further behind than this is skipped for the primary.",
    )
    replica_check_seconds: float = Field(
        default=2.0,
        ge=0,
        validation_alias=_env("replica_check_seconds"),
        description="How often a process looks again at each replica's health and lag.",
    )
    catalogue_version_check_seconds: float = Field(
        default=1.0,
        ge=0,
        validation_alias=_env("catalogue_version_check_seconds"),
        description="How often a process reads the catalogue's version again (ETags, counts):"
        " a publish is seen by the listing's caching within this time.",
    )
    http_max_age_seconds: int = Field(
        default=5,
        ge=0,
        validation_alias=_env("http_max_age_seconds"),
        description="Cache-Control max-age of the movie reads.",
    )
    http_stale_while_revalidate_seconds: int = Field(
        default=30,
        ge=0,
        validation_alias=_env("http_stale_while_revalidate_seconds"),
        description="Cache-Control stale-while-revalidate of the movie reads.",
    )
    database_connect_timeout: float = Field(
        default=5.0,
        gt=0,
        validation_alias=_env("database_connect_timeout"),
        description="Seconds to reach PostgreSQL (a new connection, or one from the pool) "
        "before a request answers 503 database_unavailable.",
    )
    orphan_file_grace_seconds: float = Field(
        default=600.0,
        gt=0,
        validation_alias=_env("orphan_file_grace_seconds"),
        description="A file in the local uploads directory that no upload references is "
        "deleted by the reaper once it has not been written to for this long (a body still "
        "arriving is never touched).",
    )
    upload_body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("upload_body_timeout_seconds"),
        description="An upload whose next body chunk does not arrive within this many seconds "
        "is ended with 408 body_timeout; nothing of it is kept.",
    )
    max_uploads_in_flight: int = Field(
        default=8,
        ge=1,
        validation_alias=_env("max_uploads_in_flight"),
        description="Upload bodies one API process reads at once; one more is answered 429 "
        "too_many_uploads (with Retry-After) before its body is read.",
    )
    ingest_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias=_env("ingest_threads"),
        description="Uploads one API process ingests at once (`in_process`); more wait in line.",
    )

    @field_validator("database_url", "parser_process_min_bytes", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def storage_dir(self) -> Path:
        """Local directory for uploaded files when no S3 bucket is configured."""
        return self.data_dir / "uploads"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    if settings.database_url_ssm_parameter or settings.api_key_ssm_parameter:
        from functions.core.parameters import resolve_ssm_parameters

        settings = resolve_ssm_parameters(settings)
    return settings
