"""The queue's rules, without a broker: durability settings, what is retried, backoff, redaction."""

from __future__ import annotations

import psycopg
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from functions.core.config import Settings
from functions.core.errors import InvalidCsvHeader, TooManyRejectedRows, UploadNotFound
from functions.core.queue import INGEST_TASK, celery_config, is_transient, redact


def test_celery_settings_make_a_task_survive_its_worker() -> None:
    config = celery_config(Settings(redis_url="redis://127.0.0.1:6379/3", celery_queue="q1"))

    assert config["broker_url"] == "redis://127.0.0.1:6379/3"
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["task_ignore_result"] is True
    assert config["result_backend"] is None  # state lives in PostgreSQL, not in Redis
    assert config["task_routes"] == {INGEST_TASK: {"queue": "q1"}}


def test_the_broker_keeps_a_task_longer_than_a_dead_workers_upload_takes_to_be_reaped() -> None:
    """Redis hands an unacknowledged task to another worker only after the visibility timeout;
    the reaper takes a dead worker's upload over after its lease. The first must be the longer,
    or a live ingestion would be delivered twice while it runs."""
    settings = Settings()
    options = celery_config(settings)["broker_transport_options"]
    assert options["visibility_timeout"] > 10 * settings.upload_lease_seconds
    assert options["socket_connect_timeout"] <= 5  # an upload answers 503 fast, Redis down


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
        ConnectionResetError(),
        TimeoutError(),
        OSError(5, "Input/output error"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:4566"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:4566"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_of_the_services_around_are_retried(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        InvalidCsvHeader(missing=["title"], duplicated=[]),
        TooManyRejectedRows(rejected=5, received=10, max_error_rate=0.1),
        UploadNotFound("x"),
        FileNotFoundError(2, "No such file"),
        PermissionError(13, "Permission denied"),
        psycopg.errors.UndefinedTable("relation does not exist"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_bad_file_or_a_bug_is_not_retried(error: BaseException) -> None:
    assert not is_transient(error)


def test_transient_errors_are_retried_by_celerys_own_backoff() -> None:
    from celery.utils.time import get_exponential_backoff_interval

    from functions.worker import RETRY_MAX_SECONDS, TransientFailure, ingest_upload

    assert ingest_upload.autoretry_for == (TransientFailure,)
    assert ingest_upload.retry_jitter is True
    delays = [
        get_exponential_backoff_interval(
            factor=int(ingest_upload.retry_backoff),
            retries=retries,
            maximum=ingest_upload.retry_backoff_max,
            full_jitter=False,
        )
        for retries in range(12)
    ]
    assert delays[:4] == [1, 2, 4, 8] and max(delays) == RETRY_MAX_SECONDS


def test_broker_passwords_never_reach_logs() -> None:
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("rediss://user:s3cret@cache:6380/1") == "rediss://user:***@cache:6380/1"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
