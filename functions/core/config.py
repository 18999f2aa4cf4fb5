"""The one settings object: every knob the service has, read from the environment once.

Local runs, docker-compose and AWS differ only in these environment variables.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3


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
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in data_dir.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias=AliasChoices("MOVIEDB_DATA_DIR", "data_dir"),
    )
    max_error_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("MOVIEDB_MAX_ERROR_RATE", "max_error_rate"),
        description="Fail an upload whose share of rejected rows exceeds this (0..1).",
    )
    max_upload_bytes: int = Field(default=GIB, gt=0)
    api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("MOVIEDB_API_KEY", "api_key")
    )
    cursor_secret: str = Field(
        default="moviedb-cursor-v1",
        validation_alias=AliasChoices("MOVIEDB_CURSOR_SECRET", "cursor_secret"),
        description="Key that signs the movie listing's `next_cursor` (HMAC-SHA256). Set it "
        "in production so clients cannot forge cursors; cursors only carry public sort values.",
    )
    count_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        validation_alias=AliasChoices("MOVIEDB_COUNT_CACHE_SECONDS", "count_cache_seconds"),
        description="How long an exact movie count per filter set is reused (0: never cached). "
        "A completed upload invalidates it at once.",
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    s3_bucket: str | None = None
    s3_incoming_prefix: str = "incoming/"
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint that presigned URLs point at, when clients reach S3 by another "
        "address than the service (docker-compose: the host's port of LocalStack). "
        "Unset: AWS_ENDPOINT_URL.",
    )
    s3_presign_expires_seconds: int = Field(
        default=3600, gt=0, le=7 * 24 * 3600, description="Lifetime of a presigned upload."
    )
    sqs_queue_name: str = Field(
        default="moviedb-ingest", description="Queue the bucket notifies of new objects."
    )
    sqs_queue_url: str | None = Field(
        default=None, description="The ingest queue's URL. Unset: looked up by SQS_QUEUE_NAME."
    )
    sqs_dlq_name: str = "moviedb-ingest-dlq"
    sqs_max_receive_count: int = Field(
        default=3, ge=1, description="Deliveries of an event before it is dead-lettered."
    )
    sqs_visibility_timeout: int = Field(
        default=90,
        ge=1,
        description="Seconds a received event stays hidden; the local poller extends it while "
        "the ingestion runs. Longer than MOVIEDB_UPLOAD_LEASE_SECONDS, so that a redelivery "
        "after a crash finds the dead worker's lease expired.",
    )
    sqs_wait_seconds: int = Field(
        default=20, ge=0, le=20, description="Long-poll wait of the local poller."
    )
    localstack_venv: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("moviedb")) / "localstack-venv",
        validation_alias=AliasChoices("MOVIEDB_LOCALSTACK_VENV", "localstack_venv"),
        description="Virtual environment (Python 3.13) with LocalStack, for `moviedb local up "
        "--emulator localstack` and the end-to-end tests (`make localstack` installs it).",
    )
    database_url_ssm_parameter: str | None = Field(
        default=None,
        description="Name of an SSM parameter (SecureString) holding DATABASE_URL, read once at "
        "start when DATABASE_URL is unset (AWS Lambda; see functions/core/parameters.py).",
    )
    api_key_ssm_parameter: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MOVIEDB_API_KEY_SSM_PARAMETER", "api_key_ssm_parameter"),
        description="Name of an SSM parameter holding MOVIEDB_API_KEY (as above).",
    )
    aws_endpoint_url: str | None = None
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("MOVIEDB_LOG_LEVEL", "log_level")
    )
    upload_lease_seconds: int = Field(
        default=60,
        gt=0,
        validation_alias=AliasChoices("MOVIEDB_UPLOAD_LEASE_SECONDS", "upload_lease_seconds"),
        description="How long a worker's claim on an upload lasts without a heartbeat.",
    )
    celery_queue: str = Field(
        default="moviedb",
        validation_alias=AliasChoices("MOVIEDB_CELERY_QUEUE", "celery_queue"),
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
        validation_alias=AliasChoices("MOVIEDB_BROKER_CONNECT_TIMEOUT", "broker_connect_timeout"),
        description="Seconds to reach the broker before an upload answers 503.",
    )
    upload_sweep_seconds: float = Field(
        default=15.0,
        gt=0,
        validation_alias=AliasChoices("MOVIEDB_UPLOAD_SWEEP_SECONDS", "upload_sweep_seconds"),
        description="How often a worker looks for stalled uploads to take over.",
    )
    upload_requeue_seconds: int = Field(
        default=300,
        gt=0,
        validation_alias=AliasChoices("MOVIEDB_UPLOAD_REQUEUE_SECONDS", "upload_requeue_seconds"),
        description="A pending upload untouched this long is sent to the queue again.",
    )

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

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
