"""Notifications end to end, on a real `moviedb serve` process: the live event stream (SSE) of
an upload, many idle streams against the pool, and the outbox surviving a killed server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api_support import csv_bytes, reset_caches, row
from tests.conftest import REPO
from tests.e2e.test_serve import free_port, wait_until
from tests.movie_files import HEADER, movie_rows
from tests.webhook_receiver import Receiver

KEY = "e2e-notifications-key"
SECRET = "a-long-enough-secret-0123456789"


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str

    def stop(self, sig: int = signal.SIGINT) -> None:
        self.process.send_signal(sig)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


def start_server(database_url: str, data_dir: Path, *args: str, **settings: str) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MOVIEDB_DATA_DIR": str(data_dir),
        "MOVIEDB_API_KEY": KEY,
        "MOVIEDB_WEBHOOK_ALLOW_PRIVATE": "true",
        "MOVIEDB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    with httpx.Client(base_url=server.base, timeout=5) as http:
        wait_until(lambda: http.get("/api/v1/ping").status_code == 200, what="the server")
    return server


@pytest.fixture
def data_dir(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(tmp_path / "data"))
    reset_caches()
    yield tmp_path / "data"
    reset_caches()


def read_events(http: httpx.Client, upload_id: str) -> list[tuple[str, dict]]:
    """Every event of the upload's stream until the server ends it."""
    events: list[tuple[str, dict]] = []
    name = None
    with http.stream("GET", f"/api/v1/uploads/{upload_id}/events", timeout=120) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def upload(http: httpx.Client, content: bytes, query: str = "") -> str:
    answer = http.post(
        f"/api/v1/upload{query}",
        files={"file": ("movies.csv", content, "text/csv")},
        headers={"X-API-Key": KEY},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["upload_id"])


def test_a_client_sees_progress_then_the_final_event_and_a_late_one_the_final_at_once(
    data_dir: Path, database_url: str
) -> None:
    server = start_server(database_url, data_dir)
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            upload_id = upload(http, (HEADER + movie_rows(150_000)).encode())
            events = read_events(http, upload_id)
            names = [name for name, _ in events]
            assert names[-1] == "completed" and names.count("completed") == 1
            progress = [data for name, data in events if name == "progress"]
            assert progress and progress[-1]["rows_read"] > 0
            rows = [p["rows_read"] for p in progress]
            assert rows == sorted(rows)  # progress only moves forward
            final = events[-1][1]
            assert final == http.get(f"/api/v1/uploads/{upload_id}").json()
            assert final["counts"]["inserted"] == 150_000

            late = read_events(http, upload_id)
            assert [name for name, _ in late] == ["completed"]

            staged = upload(http, csv_bytes(row("Alpha")), "?review=true")
            assert [name for name, _ in read_events(http, staged)][-1] == "validated"
    finally:
        server.stop()


def test_many_idle_streams_do_not_hold_database_connections(
    data_dir: Path, database_url: str
) -> None:
    """200 streams open on an upload that waits (a presigned upload whose file never came):
    the server's connections stay within its pool."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (waiting,) = conn.execute(
            "INSERT INTO uploads (filename, source) VALUES ('later.csv', 's3') RETURNING id"
        ).fetchone()  # type: ignore[misc]
    server = start_server(database_url, data_dir)
    opened = threading.Barrier(201)
    stop = threading.Event()

    def hold_one() -> None:
        with (
            httpx.Client(base_url=server.base, timeout=60) as http,
            http.stream("GET", f"/api/v1/uploads/{waiting}/events") as answer,
        ):
            next(answer.iter_lines())  # its first event arrived: the stream is open
            opened.wait(timeout=60)
            stop.wait(timeout=60)

    threads = [threading.Thread(target=hold_one, daemon=True) for _ in range(200)]
    try:
        for thread in threads:
            thread.start()
        opened.wait(timeout=60)
        with psycopg.connect(database_url, autocommit=True) as conn:
            used = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            ).fetchone()[0]  # type: ignore[index]
        print(f"\n200 open event streams: {used} database connections of the server")
        assert used <= 10 + 3  # the pool's max_size, and the reaper's and sender's own
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()


def test_an_event_written_before_the_server_was_killed_is_delivered_after_restart(
    data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver.start(tmp_path)
    # A sender that will not look before the kill: the event is only in the outbox.
    server = start_server(database_url, data_dir, MOVIEDB_EVENTS_POLL_SECONDS="3600")
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            hook = http.post(
                "/api/v1/webhooks",
                headers={"X-API-Key": KEY},
                json={"url": receiver.url, "secret": SECRET, "events": ["upload.completed"]},
            )
            assert hook.status_code == 201, hook.text
            upload_id = upload(http, csv_bytes(row("Alpha")))
            wait_until(
                lambda: http.get(f"/api/v1/uploads/{upload_id}").json()["status"] == "completed",
                what="the upload",
            )
        server.stop(signal.SIGKILL)
        assert receiver.requests() == []

        restarted = start_server(database_url, data_dir, MOVIEDB_EVENTS_POLL_SECONDS="0.2")
        try:
            wait_until(lambda: receiver.requests(), what="the delivery after the restart")
            (request,) = receiver.requests()
            assert json.loads(request["body"])["upload"]["upload_id"] == upload_id
        finally:
            restarted.stop()
    finally:
        if server.process.poll() is None:
            server.stop()
        receiver.stop()
