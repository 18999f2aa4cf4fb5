"""HTTP caching of the movie reads: a strong ETag from the catalogue version, Cache-Control,
304 on If-None-Match without running the query, and a new ETag after a publish and a revert."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from functions import movies
from functions.web import caching
from tests.api_support import API_KEY, api_env, client, csv_bytes, post_csv, reset_caches, row

__all__ = ["api_env", "client"]

LISTING = "/api/v1/movies?page=1&page_size=10&sort_by=release_date&sort_order=desc"


@pytest.fixture
def fresh_versions(api_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every request reads the catalogue version again (no second of staleness)."""
    monkeypatch.setenv("MOVIEDB_CATALOGUE_VERSION_CHECK_SECONDS", "0")
    reset_caches()
    caching._versions.cache_clear()
    yield
    caching._versions.cache_clear()


def completed(client: TestClient, title: str) -> dict:
    url = post_csv(client, csv_bytes(row(title))).json()["status_url"]
    deadline = time.monotonic() + 30
    while (status := client.get(url).json())["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status


def test_reads_carry_a_strong_etag_and_cache_control(
    client: TestClient, fresh_versions: None
) -> None:
    completed(client, "Alpha")
    answer = client.get(LISTING)
    assert answer.status_code == 200
    tag = answer.headers["etag"]
    assert tag.startswith('"v') and not tag.startswith("W/")
    assert answer.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    assert client.get(LISTING).headers["etag"] == tag  # the same request, the same tag
    other = client.get(LISTING.replace("page_size=10", "page_size=20"))
    assert other.headers["etag"] != tag
    movie = client.get("/api/v1/movies/1")
    assert movie.status_code == 200 and movie.headers["etag"].startswith('"v')


def test_if_none_match_answers_304_without_running_the_query(
    client: TestClient, fresh_versions: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    completed(client, "Alpha")
    tag = client.get(LISTING).headers["etag"]
    movie = client.get("/api/v1/movies/1").headers["etag"]

    def no_query(*args: object, **kwargs: object) -> None:
        raise AssertionError("the listing query ran for a 304")

    monkeypatch.setattr(movies, "search_page", no_query)
    monkeypatch.setattr(movies, "get_movie", no_query)
    answer = client.get(LISTING, headers={"If-None-Match": tag})
    assert answer.status_code == 304 and answer.content == b""
    assert answer.headers["etag"] == tag
    one = client.get("/api/v1/movies/1", headers={"If-None-Match": movie})
    assert one.status_code == 304 and one.headers["etag"] == movie


def test_a_publish_and_a_revert_each_give_a_new_etag(
    client: TestClient, fresh_versions: None
) -> None:
    first = completed(client, "Alpha")
    before = client.get(LISTING).headers["etag"]
    second = completed(client, "Beta")
    after_publish = client.get(LISTING, headers={"If-None-Match": before})
    assert after_publish.status_code == 200 and after_publish.headers["etag"] != before
    assert len(after_publish.json()["items"]) == 2
    reverted = client.post(f"{second['status_url']}/revert", headers={"X-API-Key": API_KEY})
    assert reverted.status_code == 200
    after_revert = client.get(LISTING, headers={"If-None-Match": after_publish.headers["etag"]})
    assert after_revert.status_code == 200
    assert after_revert.headers["etag"] not in (before, after_publish.headers["etag"])
    assert [m["title"] for m in after_revert.json()["items"]] == ["Alpha"]
    assert first["status"] == "completed"
