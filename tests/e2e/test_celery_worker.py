"""The Celery path end to end: a real Redis, real `moviedb worker` processes started here.

Each run uses its own queue name (and Redis DB MOVIEDB_TEST_REDIS_DB, default 12), so parallel
runs and a developer's own worker do not take each other's tasks.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from functions.core.config import get_settings
from functions.core.queue import BrokerUnavailable, broker_status, enqueue_ingest
from tests.e2e.celery_processes import (
    HEADER,
    Worker,
    movie_rows,
    register_file,
    upload_state,
    wait_finished,
    wait_for,
    write_movies,
)

API_KEY = "test-celery-key"


def _clear_caches() -> None:
    get_settings.cache_clear()  # the Celery client follows the settings in force


def _messages_of(redis_url: str, queue: str) -> int:
    """This run's messages still in Redis: waiting in its queue or delivered and unacknowledged
    (a retry scheduled with a countdown is held unacknowledged by the worker)."""
    client = redis.Redis.from_url(redis_url)
    try:
        unacked = sum(1 for _, raw in client.hscan_iter("unacked") if json.loads(raw)[2] == queue)
        return int(client.llen(queue)) + unacked
    finally:
        client.close()


def _purge(redis_url: str, queue: str) -> None:
    """Remove this run's messages: its queue, and its entries among the unacknowledged."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(queue, f"_kombu.binding.{queue}")
        for tag, raw in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


@pytest.fixture(scope="module")
def celery_env(database_url: str) -> Iterator[dict[str, str]]:
    """This module's broker settings in the environment (for the test process and the workers
    it starts), restored afterwards."""
    redis_db = os.environ.get("MOVIEDB_TEST_REDIS_DB", "12")
    redis_url = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    queue = f"moviedb-test-{uuid.uuid4().hex[:8]}"
    overrides = {
        "REDIS_URL": redis_url,
        "MOVIEDB_CELERY_QUEUE": queue,
        "MOVIEDB_API_KEY": API_KEY,
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    _clear_caches()
    status = broker_status()
    assert status.reachable, f"these tests need Redis at {redis_url}: {status.error}"
    env = {
        **os.environ,
        # short leases and frequent sweeps: a killed worker's upload is taken over in seconds
        "MOVIEDB_UPLOAD_LEASE_SECONDS": "15",
        "MOVIEDB_UPLOAD_SWEEP_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    yield env
    _purge(redis_url, queue)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _clear_caches()


@pytest.fixture
def start_worker(
    celery_env: dict[str, str], clean_db: str, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start `moviedb worker` processes on this module's queue; all stopped after the test."""
    _purge(celery_env["REDIS_URL"], celery_env["MOVIEDB_CELERY_QUEUE"])
    workers: list[Worker] = []

    def start(*args: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker(celery_env, log, *args)
        workers.append(worker)
        return worker.wait_ready()

    yield start
    for worker in workers:
        worker.stop()


def _movie_titles(conn_url: str) -> list[str]:
    with psycopg.connect(conn_url) as conn:
        return [r[0] for r in conn.execute("SELECT title FROM movies ORDER BY title")]


def _counts(upload) -> tuple[int | None, ...]:
    return (upload.received, upload.inserted, upload.updated, upload.unchanged, upload.rejected)


def test_upload_with_celery_is_ingested_by_the_worker(
    start_worker: Callable[..., Worker], clean_db: str
) -> None:
    from fastapi.testclient import TestClient

    from functions.api import app

    worker = start_worker()
    body = HEADER + movie_rows(500) + movie_rows(10)  # 10 repeated exactly: unchanged
    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/upload?use_celery=true",
            files={"file": ("movies.csv", body.encode(), "text/csv")},
            headers={"X-API-Key": API_KEY},
        )
    assert answer.status_code == 202, answer.text
    upload_id = answer.json()["upload_id"]

    upload = wait_finished(upload_id)

    assert upload.status == "completed", upload.error
    assert _counts(upload) == (510, 500, 0, 10, 0)
    assert len(_movie_titles(clean_db)) == 500
    done = wait_for("the task's log", lambda: worker.logged("task done", upload_id=upload_id))
    assert done[0]["status"] == "completed"


def test_worker_status_shows_the_broker_the_queue_and_the_live_worker(
    start_worker: Callable[..., Worker], celery_env: dict[str, str]
) -> None:
    start_worker("--hostname", "status-check@%h")
    command = [sys.executable, "-m", "functions.cli", "worker", "--status", "--json"]

    answer = subprocess.run(command, env=celery_env, capture_output=True, text=True, timeout=120)

    assert answer.returncode == 0, answer.stderr
    status = json.loads(answer.stdout)
    assert status["reachable"] is True
    assert status["queue"] == celery_env["MOVIEDB_CELERY_QUEUE"]
    assert status["waiting"] == 0
    assert [name.split("@")[0] for name in status["workers"]] == ["status-check"]
    assert status["uploads"] == {"pending": 0, "processing": 0, "lease_expired": 0}

    down = {**celery_env, "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    answer = subprocess.run(command, env=down, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 1
    assert json.loads(answer.stdout)["reachable"] is False


def test_worker_killed_mid_ingest_is_taken_over_by_a_new_worker(
    start_worker: Callable[..., Worker], clean_db: str, tmp_path: Path
) -> None:
    rows = 300_000
    upload = register_file(write_movies(tmp_path / "big.csv", rows))
    first = start_worker("--concurrency", "1")
    enqueue_ingest(upload.id)

    def caught_mid_ingest() -> bool:
        state = upload_state(upload.id)
        assert state.status != "completed", "the file was ingested before the kill: make it larger"
        return state.status == "processing" and state.rows_read > 0

    wait_for("the worker to be ingesting", caught_mid_ingest)
    first.kill()
    assert upload_state(upload.id).status == "processing"  # a dead worker's lease remains

    start_worker("--concurrency", "1")
    done = wait_finished(upload.id)

    assert done.status == "completed", done.error
    assert done.attempts == 2  # taken over once, not waiting for Redis' visibility timeout
    assert _counts(done) == (rows, rows, 0, 0, 0)
    titles = _movie_titles(clean_db)
    assert titles == sorted(f"Movie {n}" for n in range(rows))  # none missing, none twice


def test_the_same_task_sent_twice_gives_one_result(
    start_worker: Callable[..., Worker], clean_db: str, tmp_path: Path
) -> None:
    upload = register_file(write_movies(tmp_path / "movies.csv", 20_000))
    enqueue_ingest(upload.id)
    enqueue_ingest(upload.id)
    worker = start_worker("--concurrency", "2")

    done = wait_finished(upload.id)
    wait_for("both tasks", lambda: len(worker.logged("task done", upload_id=str(upload.id))) == 2)
    enqueue_ingest(upload.id)  # and once more, after it completed
    wait_for(
        "the third task", lambda: len(worker.logged("task done", upload_id=str(upload.id))) == 3
    )

    again = upload_state(upload.id)
    assert done.status == again.status == "completed"
    assert again.attempts == 1
    assert again.finished_at == done.finished_at
    assert _counts(again) == (20_000, 20_000, 0, 0, 0)
    assert len(_movie_titles(clean_db)) == 20_000


@pytest.mark.parametrize(
    ("content", "max_error_rate", "error"),
    [
        ("title,budget\r\nx,1\r\n", None, "missing required columns"),
        (HEADER + movie_rows(5) + "1.0,,en,,,,,,,,,,,,\r\n", 0.0, "over the allowed error rate"),
    ],
    ids=["bad-header", "too-many-rejected-rows"],
)
def test_a_bad_file_fails_once_and_is_not_retried(
    start_worker: Callable[..., Worker],
    clean_db: str,
    tmp_path: Path,
    content: str,
    max_error_rate: float | None,
    error: str,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8", newline="")
    bad = register_file(path, max_error_rate=max_error_rate)
    worker = start_worker()
    enqueue_ingest(bad.id)

    failed = wait_finished(bad.id)
    # A good upload queued after it and completed: the worker has moved on.
    good = register_file(write_movies(tmp_path / "good.csv", 100))
    enqueue_ingest(good.id)
    assert wait_finished(good.id).status == "completed"

    assert failed.status == "failed"
    assert error in (failed.error or "")
    assert upload_state(bad.id).attempts == 1
    assert worker.logged("task done", upload_id=str(bad.id), status="failed")
    assert not worker.logged("transient error, retrying", upload_id=str(bad.id))
    settings = get_settings()
    wait_for(  # no retry queued or held back either
        "every message acknowledged",
        lambda: _messages_of(settings.redis_url, settings.celery_queue) == 0,
    )
    assert upload_state(bad.id).attempts == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_broker_down_answers_503_and_keeps_nothing(
    celery_env: dict[str, str], clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from functions.api import app

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    _clear_caches()
    storage_dir = get_settings().storage_dir
    before = set(storage_dir.glob("*")) if storage_dir.exists() else set()
    try:
        with pytest.raises(BrokerUnavailable):
            enqueue_ingest(uuid.uuid4())
        with TestClient(app) as client:
            answer = client.post(
                "/api/v1/upload?use_celery=true",
                files={"file": ("movies.csv", (HEADER + movie_rows(50)).encode(), "text/csv")},
                headers={"X-API-Key": API_KEY},
            )
    finally:
        monkeypatch.undo()
        _clear_caches()

    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "broker_unavailable"
    with psycopg.connect(clean_db) as conn:
        assert conn.execute("SELECT count(*) FROM uploads").fetchone() == (0,)
    after = set(storage_dir.glob("*")) if storage_dir.exists() else set()
    assert after == before  # no stored file left behind


def test_the_event_stream_of_a_celery_upload_shows_progress_then_completed(
    start_worker: Callable[..., Worker], clean_db: str
) -> None:
    from fastapi.testclient import TestClient

    from functions.api import app

    start_worker()
    body = HEADER + movie_rows(120_000)
    events: list[tuple[str, dict]] = []
    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/upload?use_celery=true",
            files={"file": ("movies.csv", body.encode(), "text/csv")},
            headers={"X-API-Key": API_KEY},
        )
        assert answer.status_code == 202, answer.text
        upload_id = answer.json()["upload_id"]
        name = None
        with client.stream("GET", f"/api/v1/uploads/{upload_id}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line.removeprefix("data: "))))
    names = [n for n, _ in events]
    assert names[-1] == "completed" and "progress" in names
    assert events[-1][1]["counts"]["inserted"] == 120_000
