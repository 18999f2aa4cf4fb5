"""The Celery queue as seen by the code that feeds it: one Celery configuration shared by the
worker and its clients, `enqueue_ingest` (sends the task by name: the API never imports worker
code), which errors are worth a retry, and what the broker looks like (for `--status`, health).

Redis is the broker only. No result backend: an upload's state lives in PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from functions.core.config import Settings, get_settings
from functions.core.errors import MovieDbError

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

INGEST_TASK = "moviedb.ingest_upload"


@dataclass
class BrokerUnavailable(MovieDbError):
    """The task broker (Redis) cannot be reached: nothing was queued."""

    broker: str
    reason: str

    def __str__(self) -> str:
        return f"the task broker at {self.broker} is unavailable: {self.reason}"


def redact(url: str) -> str:
    """A broker URL fit for logs and status pages: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings, the same for the worker and every client.

    acks_late + reject_on_worker_lost + prefetch 1: a message is removed only when its task
    ended, and goes back to the queue when the worker process running it dies. The visibility
    timeout (when Redis hands an unacknowledged message to another worker) is longer than the
    longest ingestion, so a slow upload is not started twice; a dead worker's upload is taken
    over sooner, through its expired lease (see functions/core/uploads/recovery.py).
    """
    timeout = settings.broker_connect_timeout
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_timeout,
            "socket_connect_timeout": timeout,
            "socket_timeout": max(timeout, 5.0),
            "socket_keepalive": True,
            "health_check_interval": 30,
        },
        "broker_connection_timeout": timeout,
        "broker_connection_retry_on_startup": True,
        "broker_channel_error_retry": True,
        "task_default_queue": settings.celery_queue,
        "task_routes": {INGEST_TASK: {"queue": settings.celery_queue}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        # A broker blip does not throw away a long ingestion: it goes on and publishes; its
        # message, if handed out again, finds the upload completed and does nothing.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "enable_utc": True,
    }


def celery_client() -> Celery:
    """A Celery app used only to send tasks and ask the broker: built lazily, once for the
    settings in force (a client and its connection pool are reused across requests)."""
    return _celery_client(json.dumps(celery_config(get_settings()), sort_keys=True))


@lru_cache(maxsize=4)
def _celery_client(config: str) -> Celery:
    from celery import Celery

    client = Celery("moviedb-client", set_as_current=False)
    client.conf.update(json.loads(config))
    return client


def celery_installed() -> bool:
    """Whether this deployment carries Celery (the Lambda artifact does not: no broker there)."""
    return importlib.util.find_spec("celery") is not None


def enqueue_ingest(upload_id: uuid.UUID | str, *, retry_failed: bool = False) -> None:
    """Queue the ingestion of a registered upload (retry_failed: run it again if it failed,
    as for a failed file uploaded again). Raises BrokerUnavailable, quickly (one short
    connection attempt, no retries), when Redis cannot be reached or Celery is not part of
    this deployment."""
    settings = get_settings()
    if not celery_installed():
        raise BrokerUnavailable(redact(settings.redis_url), "Celery is not installed here")
    from kombu.exceptions import OperationalError as KombuOperationalError

    try:
        celery_client().send_task(
            INGEST_TASK,
            args=[str(upload_id)],
            kwargs={"retry_failed": True} if retry_failed else {},
            queue=settings.celery_queue,
            retry=False,
        )
    except (KombuOperationalError, OSError) as e:
        logger.warning(
            "broker unavailable, upload not queued",
            extra={"upload_id": str(upload_id), "error": str(e)},
        )
        raise BrokerUnavailable(redact(settings.redis_url), str(e)) from e
    logger.info(
        "upload queued", extra={"upload_id": str(upload_id), "queue": settings.celery_queue}
    )


# --- what a retry can cure ---------------------------------------------------------------------


def _storage_transient() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError
    except ImportError:  # pragma: no cover - botocore comes with boto3
        return ()
    return (BotoConnectionError, HTTPClientError)


# A bad file (InvalidCsvHeader, TooManyRejectedRows) is not an exception at all: the core
# records the upload as failed and returns. These are the errors of the services around it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # connection lost, server restarting, serialization, deadlock
    ConnectionError,
    TimeoutError,
    OSError,  # storage (shared directory, network filesystem); see is_transient
    *_storage_transient(),
)
PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(error: BaseException) -> bool:
    """Whether running the same upload again later may succeed."""
    if isinstance(error, PERMANENT_OS_ERRORS):
        return False
    return isinstance(error, TRANSIENT_ERRORS)


# --- what the broker looks like ----------------------------------------------------------------


@dataclass
class BrokerStatus:
    broker: str
    reachable: bool
    queue: str
    waiting: int | None = None  # messages in the queue
    unacked: int | None = None  # delivered to a worker, not yet acknowledged (all queues)
    error: str | None = None
    workers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "reachable": self.reachable,
            "queue": self.queue,
            "waiting": self.waiting,
            "unacked": self.unacked,
            "error": self.error,
            "workers": self.workers,
        }


def broker_status(*, with_workers: bool = False, timeout: float = 2.0) -> BrokerStatus:
    """Reachability and queue length of the broker; with_workers also pings the live workers
    (each answering with the queues it consumes and its active tasks)."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    settings = get_settings()
    client = celery_client()
    status = BrokerStatus(redact(settings.redis_url), reachable=False, queue=settings.celery_queue)
    try:
        with client.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=settings.broker_connect_timeout)
            channel = connection.default_channel
            status.waiting = channel.client.llen(settings.celery_queue)
            status.unacked = channel.client.hlen(channel.unacked_key)
            status.reachable = True
    except (KombuOperationalError, OSError) as e:
        status.error = str(e)
        return status
    if with_workers:
        status.workers = _workers(client, settings.celery_queue, timeout)
    return status


def _workers(client: Celery, queue: str, timeout: float) -> dict[str, Any]:
    inspect = client.control.inspect(timeout=timeout)
    queues = inspect.active_queues() or {}
    active = inspect.active() or {}
    return {
        name: {
            "queues": [q["name"] for q in consumed],
            "active": [
                {"task": t.get("name"), "args": t.get("args"), "started": t.get("time_start")}
                for t in active.get(name, [])
            ],
        }
        for name, consumed in sorted(queues.items())
        if any(q["name"] == queue for q in consumed)
    }
