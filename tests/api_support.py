"""What the API tests share: an API environment (key, data directory), a client, CSV bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from functions.core import auth
from functions.core.config import get_settings
from functions.core.ingest.dispatch import shutdown_in_process
from tests.movie_files import HEADER

API_KEY = "test-key-5f1c0b9e"
UPLOAD = "/api/v1/upload/?use_celery=false"  # the seed's request form


def row(title: str, *, date: str = "2001-01-01", lang: str = "en") -> str:
    return (
        f'1000.0,,{lang},{title},"About {title}",{date},0.0,90,Released,'
        f"{title},6.5,10.0,1,18,\"['English']\"\r\n"
    )


def csv_bytes(*rows: str) -> bytes:
    return (HEADER + "".join(rows)).encode()


def reset_caches() -> None:
    get_settings.cache_clear()
    auth.api_key.cache_clear()


@pytest.fixture
def api_env(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty database, the API key `API_KEY`, a data directory of the test's own."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MOVIEDB_API_KEY", API_KEY)
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(data_dir))
    reset_caches()
    yield data_dir
    shutdown_in_process(wait=True)  # no ingestion of this test runs into the next one
    monkeypatch.undo()
    reset_caches()


@pytest.fixture
def client(api_env: Path) -> TestClient:
    from functions.api import app

    return TestClient(app)


def post_csv(
    client: TestClient,
    content: bytes,
    *,
    filename: str = "movies.csv",
    content_type: str = "text/csv",
    url: str = UPLOAD,
    key: str | None = API_KEY,
):
    headers = {"X-API-Key": key} if key is not None else {}
    return client.post(url, files={"file": (filename, content, content_type)}, headers=headers)


def wait_finished(client: TestClient, status_url: str, timeout: float = 30.0) -> dict:
    """Poll an upload's status until it is completed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(status_url).json()
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def stored_files(data_dir: Path) -> list[Path]:
    uploads = data_dir / "uploads"
    return sorted(uploads.iterdir()) if uploads.exists() else []


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
