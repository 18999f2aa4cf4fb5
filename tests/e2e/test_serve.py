"""`moviedb serve` as a user starts it: a real uvicorn process on a free port, real HTTP.

It migrates, generates and prints the API key (none configured), takes up the upload a stopped
server left pending, and serves the seed's request forms.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from functions.core.ingest.intake import accept_upload
from tests.api_support import csv_bytes, reset_caches, row
from tests.conftest import REPO, SAMPLE_CSV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except httpx.TransportError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def data_dir(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MOVIEDB_API_KEY", raising=False)
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(tmp_path / "data"))
    reset_caches()
    yield tmp_path / "data"
    monkeypatch.undo()
    reset_caches()


def test_serve_prints_its_key_resumes_what_was_left_and_serves_the_seed_forms(
    data_dir: Path, database_url: str
) -> None:
    # Accepted by a server that stopped before processing it.
    left = accept_upload([csv_bytes(row("Left Behind"))], filename="m.csv")
    assert left.upload.status == "pending"

    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "MOVIEDB_DATA_DIR": str(data_dir)}
    env.pop("MOVIEDB_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        announce = server.stdout.readline()
        key = server.stdout.readline().strip()
        assert "API key" in announce and str(data_dir / "api-key") in announce
        assert key == (data_dir / "api-key").read_text().strip()

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_until(lambda: http.get("/api/v1/ping").status_code == 200, what="the server")
            assert http.get("/api/v1/ping").json() == "Service is up!"
            assert http.get("/api/v1/health").json()["status"] == "ok"

            resumed = wait_until(
                lambda: (
                    (s := http.get(f"/api/v1/uploads/{left.upload.id}").json())["status"]
                    == "completed"
                    and s
                ),
                what="the pending upload to be resumed",
            )
            assert resumed["counts"]["inserted"] == 1

            with SAMPLE_CSV.open("rb") as f:
                answer = http.post(
                    "/api/v1/upload/?use_celery=false",
                    files={"file": ("movies_sample_real.csv", f, "text/csv")},
                    headers={"X-API-Key": key},
                )
            assert answer.status_code == 202, answer.text
            status_url = answer.json()["status_url"]
            assert status_url.startswith(base)
            done = wait_until(
                lambda: (
                    (s := http.get(status_url).json())["status"] in ("completed", "failed") and s
                ),
                what="the upload to finish",
            )
            assert done["status"] == "completed" and done["counts"]["inserted"] == 10

            listing = http.get(
                "/api/v1/movies?page=1&page_size=10&sort_by=release_date&sort_order=desc"
            )
            assert listing.status_code == 200, listing.text
            assert listing.json()["total"] == 11
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    assert server.returncode in (0, -signal.SIGINT)
