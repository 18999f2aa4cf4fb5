"""Staged uploads through the API on the real PostgreSQL: review, change set, publish, cancel,
revert, and every 409 (functions/core/ingest/review.py, functions/uploads.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core.ingest.dispatch import shutdown_in_process
from tests.api_support import API_KEY, api_env, assert_error, client, csv_bytes, post_csv, row
from tests.movie_files import HEADER, movie_rows

__all__ = ["api_env", "client"]

REVIEW = "/api/v1/upload?review=true"
KEY = {"X-API-Key": API_KEY}
COUNTS = ("received", "inserted", "updated", "unchanged", "rejected")


def wait_status(client: TestClient, url: str, *wanted: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(url).json()
        if status["status"] in wanted:
            return status
        assert time.monotonic() < deadline, f"still {status['status']}, wanted {wanted}"
        time.sleep(0.05)


def upload(client: TestClient, content: bytes, *, review: bool) -> dict:
    answer = post_csv(client, content, url=REVIEW if review else "/api/v1/upload")
    assert answer.status_code == 202, answer.text
    final = ("validated", "failed") if review else ("completed", "failed")
    return wait_status(client, answer.json()["status_url"], *final)


def catalogue(database_url: str) -> list[tuple[Any, ...]]:
    """The whole catalogue, every column that a file sets, in a stable order."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, title, original_title, original_language, overview, release_date,"
            " budget, revenue, runtime, status, vote_average, vote_count,"
            " production_company_id, genre_id, homepage, languages, last_upload_id"
            " FROM movies ORDER BY id"
        ).fetchall()


def staging_tables(database_url: str, upload_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging'")
        return [t for (t,) in tables if upload_id.replace("-", "") in t]


def counts(status: dict) -> list[int]:
    return [status["counts"][name] for name in COUNTS]


def changes(client: TestClient, status: dict, change: str) -> dict:
    answer = client.get(f"{status['changes_url']}?change={change}&page_size=1000")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_review_upload_stops_validated_with_the_counts_its_publish_gives(
    client: TestClient, database_url: str
) -> None:
    upload(client, csv_bytes(row("Alpha"), row("Beta")), review=False)
    before = catalogue(database_url)
    content = csv_bytes(row("Alpha"), row("Beta", date="2002-02-02"), row("Gamma"), row("Gamma"))
    staged = upload(client, content, review=True)

    assert staged["status"] == "validated" and staged["review"] is True
    assert counts(staged) == [4, 2, 0, 2, 0]  # Beta's new date makes it a new movie
    assert catalogue(database_url) == before  # nothing published yet
    inserted = changes(client, staged, "inserted")
    assert inserted["total"] == 2
    assert [(i["title"], i["release_date"], i["movie_id"]) for i in inserted["items"]] == [
        ("Beta", "2002-02-02", None),
        ("Gamma", "2001-01-01", None),
    ]

    published = client.post(f"{staged['status_url']}/publish", headers=KEY)
    assert published.status_code == 202, published.text
    done = wait_status(client, staged["status_url"], "completed")
    assert counts(done) == counts(staged)  # nothing changed in between: preview == publish
    assert done["published_at"] is not None
    assert len(catalogue(database_url)) == 4


def test_the_change_set_shows_every_changed_field_before_and_after(client: TestClient) -> None:
    first = upload(client, csv_bytes(row("Alpha")), review=False)
    changed = row("Alpha").replace("About Alpha", "A new overview").replace("6.5,", "7.25,")
    staged = upload(client, csv_bytes(changed), review=True)

    updated = changes(client, staged, "updated")
    assert updated["total"] == 1
    (item,) = updated["items"]
    assert item["movie_id"] is not None and item["title"] == "Alpha"
    assert item["changes"] == {
        "overview": {"before": "About Alpha", "after": "A new overview"},
        "vote_average": {"before": 6.5, "after": 7.25},
    }
    csv_answer = client.get(f"{staged['changes_url']}?change=updated&format=csv")
    assert csv_answer.headers["content-type"].startswith("text/csv")
    assert csv_answer.text.splitlines()[0] == (
        "title,release_date,original_language,movie_id,field,before,after"
    )
    assert len(csv_answer.text.splitlines()) == 3  # one line per changed field

    client.post(f"{staged['status_url']}/publish", headers=KEY)
    done = wait_status(client, staged["status_url"], "completed")
    history = changes(client, done, "updated")  # the same change set, from the history now
    assert history["items"][0]["changes"] == item["changes"]
    assert first["status"] == "completed"


def test_a_publish_after_the_catalogue_changed_computes_the_change_set_again(
    client: TestClient, database_url: str
) -> None:
    staged = upload(client, csv_bytes(row("Alpha"), row("Beta")), review=True)
    assert counts(staged) == [2, 2, 0, 0, 0]
    upload(client, csv_bytes(row("Alpha")), review=False)  # Alpha lands meanwhile

    client.post(f"{staged['status_url']}/publish", headers=KEY)
    done = wait_status(client, staged["status_url"], "completed")
    assert counts(done) == [2, 1, 0, 1, 0]  # what really happened: Alpha was there already
    assert sorted(r[1] for r in catalogue(database_url)) == ["Alpha", "Beta"]


def test_a_revert_restores_exactly_the_catalogue_before_the_upload(
    client: TestClient, database_url: str
) -> None:
    upload(client, csv_bytes(row("Alpha"), row("Beta")), review=False)
    before = catalogue(database_url)
    changed = row("Alpha").replace("About Alpha", "Rewritten")
    second = upload(client, csv_bytes(changed, row("Gamma"), row("Beta")), review=False)
    assert counts(second) == [3, 1, 1, 1, 0]
    assert catalogue(database_url) != before

    reverted = client.post(f"{second['status_url']}/revert", headers=KEY)
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["status"] == "reverted"
    assert reverted.json()["reverted"] == {"removed": 1, "restored": 1}
    assert catalogue(database_url) == before  # the whole table, ids and every column

    again = client.post(f"{second['status_url']}/revert", headers=KEY)
    assert again.status_code == 200 and again.json()["reverted"] == {"removed": 1, "restored": 1}
    assert catalogue(database_url) == before  # reverting twice changes nothing more


def test_a_revert_under_a_later_upload_is_a_conflict_until_that_one_is_reverted(
    client: TestClient, database_url: str
) -> None:
    empty = catalogue(database_url)
    first = upload(client, csv_bytes(row("Alpha"), row("Beta")), review=False)
    later = upload(client, csv_bytes(row("Alpha").replace("About Alpha", "Later")), review=False)
    untouched = catalogue(database_url)

    conflict = client.post(f"{first['status_url']}/revert", headers=KEY)
    error = assert_error(conflict, 409, "revert_conflict")
    assert error["details"]["later_uploads"] == [later["upload_id"]]
    assert catalogue(database_url) == untouched  # nothing changed

    assert client.post(f"{later['status_url']}/revert", headers=KEY).status_code == 200
    assert client.post(f"{first['status_url']}/revert", headers=KEY).status_code == 200
    assert catalogue(database_url) == empty


def test_cancel_of_a_validated_upload_publishes_nothing_and_drops_its_staging(
    client: TestClient, database_url: str
) -> None:
    staged = upload(client, csv_bytes(row("Alpha")), review=True)
    cancelled = client.post(f"{staged['status_url']}/cancel", headers=KEY)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert catalogue(database_url) == []
    assert staging_tables(database_url, staged["upload_id"]) == []
    assert_error(
        client.post(f"{staged['status_url']}/publish", headers=KEY), 409, "upload_not_publishable"
    )
    assert_error(client.get(staged["changes_url"]), 409, "change_set_unavailable")


def test_a_cancelled_or_reverted_upload_sent_again_runs_again(
    client: TestClient, database_url: str
) -> None:
    content = csv_bytes(row("Alpha"))
    staged = upload(client, content, review=True)
    client.post(f"{staged['status_url']}/cancel", headers=KEY)
    again = upload(client, content, review=False)
    assert again["upload_id"] == staged["upload_id"] and again["status"] == "completed"
    client.post(f"{again['status_url']}/revert", headers=KEY)
    assert catalogue(database_url) == []
    third = upload(client, content, review=False)
    assert third["status"] == "completed" and len(catalogue(database_url)) == 1


def test_every_refused_transition_is_a_409_and_changes_nothing(client: TestClient) -> None:
    done = upload(client, csv_bytes(row("Alpha")), review=False)
    url = done["status_url"]
    assert_error(client.post(f"{url}/publish", headers=KEY), 409, "upload_not_publishable")
    assert_error(client.post(f"{url}/cancel", headers=KEY), 409, "upload_not_cancellable")
    staged = upload(client, csv_bytes(row("Beta")), review=True)
    assert_error(
        client.post(f"{staged['status_url']}/revert", headers=KEY), 409, "upload_not_revertible"
    )
    bad = post_csv(client, b"title,year\nA,1\n")
    assert bad.status_code == 400  # a bad header is refused before anything is recorded
    assert client.get(url).json()["status"] == "completed"
    assert client.get(staged["status_url"]).json()["status"] == "validated"


def test_the_writes_need_the_api_key(client: TestClient) -> None:
    staged = upload(client, csv_bytes(row("Alpha")), review=True)
    for action in ("publish", "cancel", "revert"):
        assert_error(client.post(f"{staged['status_url']}/{action}"), 401, "missing_api_key")
        wrong = client.post(f"{staged['status_url']}/{action}", headers={"X-API-Key": "nope"})
        assert_error(wrong, 403, "wrong_api_key")
    assert client.get(staged["status_url"]).json()["status"] == "validated"


def test_a_running_upload_is_cancelled_and_its_worker_stops_with_nothing_published(
    client: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="functions.core.ingest.pipeline")
    content = (HEADER + movie_rows(300_000)).encode()
    url = post_csv(client, content).json()["status_url"]
    wait_status(client, url, "processing")
    deadline = time.monotonic() + 60
    while client.get(url).json()["progress"]["rows_read"] == 0:  # its first chunks are in
        assert time.monotonic() < deadline
        time.sleep(0.05)

    cancelled = client.post(f"{url}/cancel", headers=KEY)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    shutdown_in_process(wait=True)  # until its worker has let go
    stopped = [r for r in caplog.records if r.getMessage() == "upload cancelled, its work dropped"]
    assert [r.upload_id for r in stopped] == [cancelled.json()["upload_id"]]  # type: ignore[attr-defined]
    assert client.get(url).json()["status"] == "cancelled"
    assert catalogue(database_url) == []
    assert staging_tables(database_url, cancelled.json()["upload_id"]) == []  # rolled back


def test_two_uploads_are_processed_side_by_side_and_both_complete(
    client: TestClient, database_url: str
) -> None:
    one = post_csv(client, (HEADER + movie_rows(20_000, prefix="One")).encode())
    two = post_csv(client, (HEADER + movie_rows(20_000, prefix="Two")).encode())
    first = wait_status(client, one.json()["status_url"], "completed")
    second = wait_status(client, two.json()["status_url"], "completed")
    assert counts(first) == counts(second) == [20_000, 20_000, 0, 0, 0]
    assert len(catalogue(database_url)) == 40_000
