"""Webhooks on the real PostgreSQL with a real receiver process on loopback: registration and
its refusals, signed deliveries, retries with the same delivery id, timeouts, the outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core.config import get_settings
from functions.core.events.sender import send_round
from functions.core.events.signing import verify
from functions.core.ingest import publish
from tests.api_support import API_KEY, api_env, assert_error, client, csv_bytes, post_csv, row
from tests.api_support import reset_caches as reset_api_caches
from tests.webhook_receiver import Receiver

__all__ = ["api_env", "client"]

KEY = {"X-API-Key": API_KEY}
SECRET = "a-long-enough-secret-0123456789"


@pytest.fixture
def local_hooks(api_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Loopback receivers allowed (local use), short timeouts and retries."""
    monkeypatch.setenv("MOVIEDB_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("MOVIEDB_WEBHOOK_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("MOVIEDB_WEBHOOK_RETRY_BASE_SECONDS", "0.1")
    monkeypatch.setenv("MOVIEDB_WEBHOOK_MAX_ATTEMPTS", "3")
    reset_api_caches()
    yield
    reset_api_caches()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    found = Receiver.start(tmp_path)
    yield found
    found.stop()


def register(client: TestClient, url: str, events: list[str] | None = None) -> dict:
    answer = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": url, "secret": SECRET, "events": events or ["upload.completed"]},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def completed_upload(client: TestClient, title: str = "Alpha") -> dict:
    answer = post_csv(client, csv_bytes(row(title)))
    url = answer.json()["status_url"]
    deadline = time.monotonic() + 30
    while (status := client.get(url).json())["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status


def delivery_status(client: TestClient, url: str) -> str | None:
    found = client.get(url, headers=KEY).json()
    return found[0]["status"] if found else None


def rounds_until(database_url: str, done: Any, timeout: float = 30.0) -> None:
    """Sender rounds (as the serve and worker threads run them) until `done()`."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not done():
            assert time.monotonic() < deadline, "gave up waiting for the deliveries"
            send_round(conn, settings=get_settings())
            time.sleep(0.05)


def test_a_completed_upload_is_delivered_signed_with_the_upload_the_api_shows(
    client: TestClient, local_hooks: None, receiver: Receiver, database_url: str
) -> None:
    hook = register(client, receiver.url)
    status = completed_upload(client)
    rounds_until(database_url, lambda: receiver.requests())

    (request,) = receiver.requests()
    headers = {k.lower(): v for k, v in request["headers"].items()}
    body = request["body"].encode()
    assert headers["x-moviedb-event"] == "upload.completed"
    assert verify(body, SECRET, headers["x-moviedb-signature"])
    event = json.loads(body)
    assert event["event"] == "upload.completed"
    assert event["delivery_id"] == headers["x-moviedb-delivery"]
    assert event["upload"]["upload_id"] == status["upload_id"]
    assert event["upload"]["counts"] == status["counts"]
    assert event["upload"]["status"] == "completed"
    assert set(event["upload"]) == set(status)  # exactly the object GET /uploads/{id} answers

    (delivery,) = client.get(
        f"/api/v1/webhooks/{hook['webhook_id']}/deliveries", headers=KEY
    ).json()
    assert delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts_log"]] == [200]


def test_a_receiver_that_fails_then_answers_gets_the_same_delivery_id_twice(
    client: TestClient, local_hooks: None, tmp_path: Path, database_url: str
) -> None:
    flaky = Receiver.start(tmp_path, answers="500,200")
    try:
        hook = register(client, flaky.url)
        completed_upload(client)
        rounds_until(database_url, lambda: len(flaky.requests()) >= 2)
        ids = [r["headers"]["X-Moviedb-Delivery"] for r in flaky.requests()]
        assert len(ids) == 2 and ids[0] == ids[1]
        (delivery,) = client.get(
            f"/api/v1/webhooks/{hook['webhook_id']}/deliveries", headers=KEY
        ).json()
        assert delivery["status"] == "succeeded"
        assert [a["status_code"] for a in delivery["attempts_log"]] == [500, 200]
    finally:
        flaky.stop()


def test_a_receiver_that_never_answers_in_time_is_retried_and_every_attempt_logged(
    client: TestClient, local_hooks: None, tmp_path: Path, database_url: str
) -> None:
    silent = Receiver.start(tmp_path, answers="hang")
    try:
        hook = register(client, silent.url)
        completed_upload(client)
        url = f"/api/v1/webhooks/{hook['webhook_id']}/deliveries"
        rounds_until(database_url, lambda: delivery_status(client, url) == "failed")
        (delivery,) = client.get(url, headers=KEY).json()
        assert [a["error"] for a in delivery["attempts_log"]] == ["timeout"] * 3  # max attempts
        assert len(silent.requests()) == 3
    finally:
        silent.stop()


def test_a_failed_delivery_can_be_redelivered_with_its_id(
    client: TestClient, local_hooks: None, tmp_path: Path, database_url: str
) -> None:
    down = Receiver.start(tmp_path, answers="503,503,503,200")
    try:
        hook = register(client, down.url)
        completed_upload(client)
        url = f"/api/v1/webhooks/{hook['webhook_id']}/deliveries"
        rounds_until(database_url, lambda: delivery_status(client, url) == "failed")
        (failed,) = client.get(url, headers=KEY).json()
        again = client.post(f"{url}/{failed['delivery_id']}/redeliver", headers=KEY)
        assert again.status_code == 202 and again.json()["status"] == "pending"
        rounds_until(database_url, lambda: len(down.requests()) == 4)
        assert {r["headers"]["X-Moviedb-Delivery"] for r in down.requests()} == {
            failed["delivery_id"]
        }
    finally:
        down.stop()


def test_no_event_is_sent_for_a_publish_that_rolled_back(
    client: TestClient,
    local_hooks: None,
    receiver: Receiver,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(client, receiver.url, ["upload.completed", "upload.failed"])

    def publish_then_break(cur: psycopg.Cursor, upload_id: Any) -> int:
        real_publish(cur, upload_id)  # the movies are written, then the transaction fails
        raise RuntimeError("the publish broke after writing")

    real_publish = publish.publish
    monkeypatch.setattr(publish, "publish", publish_then_break)
    answer = post_csv(client, csv_bytes(row("Alpha")))
    url = answer.json()["status_url"]
    deadline = time.monotonic() + 30
    while client.get(url).json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rounds_until(database_url, lambda: receiver.requests())
    assert [r["headers"]["X-Moviedb-Event"] for r in receiver.requests()] == ["upload.failed"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)
        events = conn.execute("SELECT event FROM upload_events").fetchall()
    assert events == [("upload.failed",)]  # the completed one rolled back with the publish


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",  # loopback
        "http://10.1.2.3/hook",  # private
        "http://192.168.0.10/hook",
        "http://[::1]/hook",
        "http://169.254.10.20/hook",  # link-local
        "http://[fe80::1]/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/",
        "ftp://example.com/hook",
    ],
)
def test_webhooks_to_internal_addresses_are_refused(client: TestClient, url: str) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": url, "secret": SECRET, "events": ["upload.completed"]},
    )
    assert_error(answer, 422, "unsafe_webhook_target")


@pytest.mark.parametrize(
    "url",
    [
        "http://[/hook",  # urlsplit's ValueError (a bracket that is not an IPv6 address)
        "http://[::1/hook",
        "http://127.0.0.1:9/hook\x00",  # PostgreSQL text cannot hold a NUL
        "http://127.0.0.1:9/\nhook",
        "http://",
    ],
)
def test_malformed_webhook_urls_are_refused_as_unsafe_targets(
    client: TestClient, local_hooks: None, url: str
) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": url, "secret": SECRET, "events": ["upload.completed"]},
    )
    assert_error(answer, 422, "unsafe_webhook_target")


def test_a_secret_with_a_nul_is_a_422(client: TestClient, local_hooks: None) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": "http://127.0.0.1:9/", "secret": SECRET + "\x00", "events": ["upload.failed"]},
    )
    assert_error(answer, 422, "invalid_request")


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/", "http://[fd00:ec2::254]/", "http://169.254.1.1/"]
)
def test_metadata_and_link_local_addresses_are_refused_even_for_local_use(
    client: TestClient, local_hooks: None, url: str
) -> None:
    answer = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": url, "secret": SECRET, "events": ["upload.completed"]},
    )
    assert_error(answer, 422, "unsafe_webhook_target")


def test_the_secret_is_never_shown_back(client: TestClient, local_hooks: None) -> None:
    created = client.post(
        "/api/v1/webhooks",
        headers=KEY,
        json={"url": "http://127.0.0.1:9/hook", "secret": SECRET, "events": ["upload.failed"]},
    )
    assert created.status_code == 201
    listed = client.get("/api/v1/webhooks", headers=KEY)
    one = client.get(f"/api/v1/webhooks/{created.json()['webhook_id']}", headers=KEY)
    for answer in (created, listed, one):
        assert SECRET not in answer.text and "secret" not in answer.text


def test_webhooks_need_the_api_key(client: TestClient) -> None:
    assert_error(client.get("/api/v1/webhooks"), 401, "missing_api_key")
    wrong = client.post(
        "/api/v1/webhooks",
        headers={"X-API-Key": "nope"},
        json={"url": "https://example.com/", "secret": SECRET, "events": ["upload.completed"]},
    )
    assert_error(wrong, 403, "wrong_api_key")


def test_a_deleted_webhook_gets_nothing_more(
    client: TestClient, local_hooks: None, receiver: Receiver, database_url: str
) -> None:
    hook = register(client, receiver.url)
    assert client.delete(f"/api/v1/webhooks/{hook['webhook_id']}", headers=KEY).status_code == 204
    completed_upload(client)
    with psycopg.connect(database_url, autocommit=True) as conn:
        send_round(conn, settings=get_settings())
        assert conn.execute("SELECT dispatched_at IS NOT NULL FROM upload_events").fetchone() == (
            True,
        )
    assert receiver.requests() == []
    assert_error(
        client.get(f"/api/v1/webhooks/{hook['webhook_id']}", headers=KEY), 404, "webhook_not_found"
    )
