"""POST /api/v1/uploads: presigned uploads through the API (moto's in-process S3, real
PostgreSQL). The form itself is exercised against real emulators in tests/e2e."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_support import API_KEY, api_env, client
from tests.integration.s3_support import BUCKET, reset_caches, s3

__all__ = ["api_env", "client", "s3"]  # fixtures

URL = "/api/v1/uploads"
AUTH = {"X-API-Key": API_KEY}


def test_presigned_upload_answers_a_form_for_a_new_pending_upload(
    s3: Any, client: TestClient
) -> None:
    answer = client.post(URL, json={"filename": "big movies.csv", "size": 50_000_000}, headers=AUTH)

    assert answer.status_code == 201, answer.text
    body = answer.json()
    upload_id = body["upload_id"]
    assert body["status"] == "pending" and body["method"] == "POST"
    assert body["bucket"] == BUCKET
    assert body["key"] == f"incoming/{upload_id}/big movies.csv"
    assert body["fields"]["key"] == body["key"]
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 50_000_000] in policy["conditions"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)

    status = client.get(body["status_url"].removeprefix("http://testserver"))
    assert status.status_code == 200
    assert status.json()["status"] == "pending" and status.json()["source"] == "s3"
    listed = client.get("/api/v1/uploads").json()["items"]
    assert [item["upload_id"] for item in listed] == [upload_id]


def test_presigned_upload_needs_the_api_key(s3: Any, client: TestClient) -> None:
    answer = client.post(URL, json={"filename": "m.csv", "size": 10})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_api_key"
    wrong = client.post(URL, json={"filename": "m.csv", "size": 10}, headers={"X-API-Key": "no"})
    assert wrong.status_code == 403


def test_presigned_upload_over_the_size_limit_is_413(
    s3: Any, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    reset_caches()
    answer = client.post(URL, json={"filename": "m.csv", "size": 1001}, headers=AUTH)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "upload_too_large"
    assert client.get("/api/v1/uploads").json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "///..", "size": 10},
        {"filename": "", "size": 10},
        {"filename": "m.csv", "size": 0},
        {"filename": "m.csv", "size": "big"},
        {"size": 10},
        # JSON's own types only, as documented: no number in a string, no 0 for false
        {"filename": "m.csv", "size": "10"},
        {"filename": "m.csv", "size": True},
        {"filename": "m.csv", "size": 10.5},
        {"filename": "m.csv", "size": 10, "review": 0},
        {"filename": "m.csv", "size": 10, "review": "false"},
    ],
)
def test_presigned_upload_with_a_bad_body_is_422(
    s3: Any, client: TestClient, body: dict[str, Any]
) -> None:
    answer = client.post(URL, json=body, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_presigned_upload_without_a_bucket_is_503(
    s3: Any, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("S3_BUCKET")
    reset_caches()
    answer = client.post(URL, json={"filename": "m.csv", "size": 10}, headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "s3_not_configured"


def test_presigned_upload_takes_a_whole_number_written_with_a_fraction(
    s3: Any, client: TestClient
) -> None:
    # JSON Schema's integer: 10.0 is one (schemathesis sends such numbers)
    answer = client.post(URL, json={"filename": "m.csv", "size": 10.0}, headers=AUTH)
    assert answer.status_code == 201, answer.text
