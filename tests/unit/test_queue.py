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


def test_visibility_timeout_outlasts_an_ingestion_and_connect_timeout_is_short() -> None:
    settings = Settings(celery_visibility_timeout=7200, broker_connect_timeout=1.5)
    options = celery_config(settings)["broker_transport_options"]

    assert options["visibility_timeout"] == 7200
    assert options["socket_connect_timeout"] == 1.5
    assert Settings().celery_visibility_timeout >= 3600


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


def test_retry_delay_grows_exponentially_and_is_capped() -> None:
    from functions.worker import RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, retry_delay

    for retries in range(12):
        ceiling = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
        assert all(0 <= retry_delay(retries) <= ceiling for _ in range(50))


def test_broker_passwords_never_reach_logs() -> None:
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("rediss://user:s3cret@cache:6380/1") == "rediss://user:***@cache:6380/1"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
