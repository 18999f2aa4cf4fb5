"""Reads on a real streaming replica (tests/replica.py): the listing goes to the replica, a
write followed by its status read sees the write, a stopped replica or one lagging beyond the
setting sends the reads to the primary, with no error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core.replicas import reset_read_router
from functions.web import caching
from tests.api_support import api_env, client, csv_bytes, post_csv, reset_caches, row
from tests.replica import StreamingReplica, streaming_replica

__all__ = ["api_env", "client", "streaming_replica"]

LISTING = "/api/v1/movies?page_size=100&count=none"


@pytest.fixture
def on_replica(
    api_env: Path, streaming_replica: StreamingReplica, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StreamingReplica]:
    monkeypatch.setenv("DATABASE_READ_URL", streaming_replica.url)
    monkeypatch.setenv("MOVIEDB_REPLICA_CHECK_SECONDS", "0")  # look at its health every read
    monkeypatch.setenv("MOVIEDB_CATALOGUE_VERSION_CHECK_SECONDS", "0")
    reset_caches()
    reset_read_router()
    caching._versions.cache_clear()
    yield streaming_replica
    streaming_replica.resume_replay()
    reset_read_router()
    caching._versions.cache_clear()


def titles(client: TestClient) -> list[str]:
    answer = client.get(LISTING)
    assert answer.status_code == 200, answer.text
    return sorted(m["title"] for m in answer.json()["items"])


def add_movie(database_url: str, title: str) -> None:
    """A movie written on the primary behind the service's back."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO movies (title, original_language) VALUES (%s, 'en')", (title,))


def test_the_listing_is_read_from_the_replica(
    client: TestClient,
    on_replica: StreamingReplica,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_movie(database_url, "Seen by both")
    on_replica.wait_caught_up(database_url)
    monkeypatch.setenv("MOVIEDB_REPLICA_MAX_LAG_SECONDS", "3600")  # any lag is acceptable here
    reset_caches()
    reset_read_router()
    on_replica.pause_replay()
    add_movie(database_url, "Only on the primary")
    assert titles(client) == ["Seen by both"]  # the replica answered: it has not replayed it


def test_a_replica_lagging_beyond_the_setting_is_skipped_for_the_primary(
    client: TestClient,
    on_replica: StreamingReplica,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOVIEDB_REPLICA_MAX_LAG_SECONDS", "0.5")
    reset_caches()
    reset_read_router()
    on_replica.pause_replay()
    add_movie(database_url, "Fresh")
    time.sleep(1.0)  # the replica's replay now lags more than the setting allows
    assert titles(client) == ["Fresh"]  # read from the primary


def test_a_write_then_its_status_read_sees_the_write(
    client: TestClient, on_replica: StreamingReplica
) -> None:
    on_replica.pause_replay()  # the replica sees nothing of what follows
    answer = post_csv(client, csv_bytes(row("Alpha")))
    assert answer.status_code == 202
    status = client.get(answer.json()["status_url"])
    assert status.status_code == 200  # the upload's own status: from the primary
    assert status.json()["upload_id"] == answer.json()["upload_id"]


def test_a_stopped_replica_sends_the_reads_to_the_primary_with_no_error(
    client: TestClient, on_replica: StreamingReplica, database_url: str
) -> None:
    on_replica.stop()
    try:
        add_movie(database_url, "Still served")
        assert titles(client) == ["Still served"]
        assert client.get("/api/v1/uploads").status_code == 200
    finally:
        on_replica.start()


def test_an_exact_count_read_on_the_replica_is_cached_on_the_primary(
    client: TestClient, on_replica: StreamingReplica, database_url: str
) -> None:
    """The count runs on the replica; the shared count cache (an UNLOGGED table, which a
    replica cannot read) is read and written on the primary."""
    for title in ("Replicated one", "Replicated two"):
        add_movie(database_url, title)
    on_replica.wait_caught_up(database_url)
    answer = client.get("/api/v1/movies?q=replicated&count=exact")
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 2
    with psycopg.connect(database_url, autocommit=True) as primary:
        stored = primary.execute("SELECT total FROM count_cache").fetchall()
    assert stored == [(2,)]
