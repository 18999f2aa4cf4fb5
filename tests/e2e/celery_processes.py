"""Helpers for the Celery end-to-end tests: real worker processes, movie CSV files, polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from functions.core.db import connect
from functions.core.storage import get_storage
from functions.core.uploads.records import NewUpload, Upload, get_upload, register_upload
from tests.movie_files import HEADER, WAIT_SECONDS, movie_rows, wait_for, write_movies

__all__ = ["HEADER", "WAIT_SECONDS", "movie_rows", "wait_for", "write_movies"]

REPO = Path(__file__).resolve().parents[2]


def register_file(path: Path, *, max_error_rate: float | None = None) -> Upload:
    """Store a file and register it, as the upload API does before it queues it."""
    with path.open("rb") as f:
        stored = get_storage().save(iter(lambda: f.read(1 << 20), b""), max_bytes=1 << 31)
    with connect() as conn:
        registration = register_upload(
            conn,
            NewUpload(
                filename=path.name,
                source="api",
                content_sha256=stored.sha256,
                size_bytes=stored.size,
                storage_uri=stored.uri,
                max_error_rate=max_error_rate,
            ),
        )
    assert registration.created
    return registration.upload


def upload_state(upload_id: uuid.UUID | str) -> Upload:
    with connect() as conn:
        return get_upload(conn, upload_id)


def wait_finished(upload_id: uuid.UUID | str, timeout: float = WAIT_SECONDS) -> Upload:
    return wait_for(
        f"upload {upload_id} to finish",
        lambda: (u := upload_state(upload_id)).finished and u,
        timeout,
    )


class Worker:
    """A `moviedb worker` process in its own process group (the pool processes with it)."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "worker", "--loglevel", "INFO", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records written so far (other lines are skipped)."""
        found = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def logged(self, message: str, **fields: object) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records()
            if r.get("message") == message and all(r.get(k) == v for k, v in fields.items())
        ]

    def wait_ready(self) -> Worker:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log_path.read_text()}")
            return any(str(r.get("message", "")).endswith(" ready.") for r in self.records())

        wait_for("the worker to be ready", ready)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=60)
        self._log.close()
