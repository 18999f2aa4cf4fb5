"""With the database down, an upload fails fast: 503 database_unavailable, after
MOVIEDB_DATABASE_CONNECT_TIMEOUT (the pool's wait for a connection), not the pool's 30 s."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from functions.core import db
from tests.api_support import (
    api_env,
    assert_error,
    client,
    csv_bytes,
    post_csv,
    reset_caches,
    row,
    stored_files,
)

__all__ = ["api_env", "client"]  # fixtures


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def database_down(api_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    db.close_pool()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    monkeypatch.setenv("MOVIEDB_DATABASE_CONNECT_TIMEOUT", "1.5")
    reset_caches()
    db.database_url.cache_clear()
    yield
    db.close_pool()  # the pool on the closed port goes; the next test gets the real one
    monkeypatch.undo()
    reset_caches()
    db.database_url.cache_clear()


@pytest.mark.timeout(60)
def test_an_upload_with_the_database_down_is_503_database_unavailable(
    client: TestClient, api_env: Path, database_down: None
) -> None:
    response = post_csv(client, csv_bytes(row("A")))
    error = assert_error(response, 503, "database_unavailable")
    assert "127.0.0.1" not in error["message"]  # no host in the answer
    assert stored_files(api_env) == []  # the stored copy was deleted


def test_the_pool_and_plain_connects_use_the_connect_timeout_setting(
    api_env: Path, database_down: None
) -> None:
    pool = db.get_pool()
    assert pool.timeout == 1.5  # how long a request waits for a pooled connection
    assert pool.kwargs["connect_timeout"] == 2  # libpq takes whole seconds: 1.5 rounded up
    assert db.connect_timeout() == 2
