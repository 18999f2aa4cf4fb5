"""The S3 drop-in flow end to end, against real emulator processes started here: files put in
the bucket (by hand or through a presigned form) are carried by the bucket notification and the
poller to functions/ingest.handler, and seen through the running API.

Every test runs against moto's server, and again against LocalStack when it is installed
(`make localstack`; `.ci/run` installs it when it can). The run's summary names the emulators
it ran against (tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local.emulator import available_emulators
from tests.e2e.s3_stack import Stack, start_stack, wait_for, write_movies
from tests.integration.s3_support import SAMPLE, s3_event

EMULATORS = available_emulators()
EMULATORS_RAN: set[str] = set()  # read by tests/e2e/conftest.py for the run's summary
SAMPLE_TITLES = {
    "Toy Story",
    "Jumanji",
    "Grumpier Old Men",
    "Waiting to Exhale",
    "Father of the Bride Part II",
    "Heat",
    "Sabrina",
    "Tom and Huck",
    "Sudden Death",
    "GoldenEye",
}
BAD_CSV = b"title,overview\r\nAlien,In space\r\n"


@pytest.fixture(scope="module", params=EMULATORS)
def stack(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name = request.param
    EMULATORS_RAN.add(name)
    running = start_stack(
        name, database_url=database_url, logs=tmp_path_factory.mktemp(f"s3-{name}")
    )
    yield running
    running.stop()


@pytest.fixture
def fresh(stack: Stack, clean_db: str) -> Stack:
    """The running stack, over an empty database."""
    return stack


def api_upload(stack: Stack, filename: str) -> dict[str, Any] | None:
    """The finished upload of `filename`, as GET /api/v1/uploads lists it."""
    with stack.http() as http:
        answer = http.get("/api/v1/uploads", params={"page_size": 100})
    answer.raise_for_status()
    for item in answer.json()["items"]:
        if item["filename"] == filename and item["status"] in ("completed", "failed"):
            return dict(item)
    return None


def api_titles(stack: Stack, q: str) -> set[str]:
    with stack.http() as http:
        answer = http.get("/api/v1/movies", params={"q": q, "page_size": 100})
    answer.raise_for_status()
    return {movie["title"] for movie in answer.json()["items"]}


def db_rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def uploads_of(url: str, filename: str) -> list[tuple[Any, ...]]:
    return db_rows(
        url,
        "SELECT id, status, attempts, received, inserted FROM uploads WHERE filename = %s",
        filename,
    )


def movie_count(url: str, prefix: str) -> int:
    [(count,)] = db_rows(url, "SELECT count(*) FROM movies WHERE title LIKE %s", prefix + "%")
    return int(count)


def test_dropped_csv_is_ingested_and_its_movies_listed(fresh: Stack, clean_db: str) -> None:
    filename = "Films été 2024+extra (v2).csv"  # spaces, non-ASCII, a plus sign
    fresh.s3.upload_file(str(SAMPLE), fresh.bucket, f"incoming/{filename}")

    upload = wait_for("the dropped file's upload", lambda: api_upload(fresh, filename))

    assert upload["status"] == "completed", upload
    assert upload["source"] == "s3"
    assert upload["counts"] == {
        "received": 10,
        "inserted": 10,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert api_titles(fresh, "Heat") >= {"Heat"}
    [(count,)] = db_rows(clean_db, "SELECT count(*) FROM movies")
    titles = {t for (t,) in db_rows(clean_db, "SELECT title FROM movies")}
    assert (count, titles) == (10, SAMPLE_TITLES)


def test_presigned_upload_of_a_file_over_10_mb(fresh: Stack, clean_db: str, tmp_path: Path) -> None:
    import httpx

    rows = 46_000
    big = write_movies(tmp_path / "big.csv", rows, prefix="E2E presigned")
    size = big.stat().st_size
    assert size > 10 * 1024 * 1024  # over API Gateway's request limit
    with fresh.http() as http:
        answer = http.post("/api/v1/uploads", json={"filename": "big export.csv", "size": size})
    assert answer.status_code == 201, answer.text
    presigned = answer.json()

    with big.open("rb") as f:
        sent = httpx.post(
            presigned["url"],
            data=presigned["fields"],
            files={"file": ("big export.csv", f, "text/csv")},
            timeout=120,
        )
    assert sent.status_code in (200, 201, 204), sent.text

    def finished() -> dict[str, Any] | None:
        with fresh.http() as http:
            status = http.get(presigned["status_url"]).json()
        return dict(status) if status["status"] in ("completed", "failed") else None

    upload = wait_for("the presigned upload", finished)
    assert upload["upload_id"] == presigned["upload_id"]  # the same record, not a new one
    assert upload["status"] == "completed", upload
    assert upload["counts"]["received"] == rows and upload["counts"]["inserted"] == rows
    assert upload["size_bytes"] == size
    assert movie_count(clean_db, "E2E presigned ") == rows
    assert "E2E presigned 45999" in api_titles(fresh, "E2E presigned 45999")
    [(uploads,)] = db_rows(clean_db, "SELECT count(*) FROM uploads")
    assert uploads == 1


def test_same_object_event_delivered_twice_ingests_once(fresh: Stack, clean_db: str) -> None:
    key = "incoming/twice.csv"
    body = SAMPLE.read_bytes()
    fresh.s3.put_object(Bucket=fresh.bucket, Key=key, Body=body)
    first = wait_for("the first ingestion", lambda: api_upload(fresh, "twice.csv"))
    assert first["status"] == "completed"

    # The same event again, as S3's at-least-once delivery may send it...
    etag = fresh.s3.head_object(Bucket=fresh.bucket, Key=key)["ETag"].strip('"')
    fresh.sqs.send_message(
        QueueUrl=fresh.resources.queue_url,
        MessageBody=json.dumps(s3_event(key, etag, bucket=fresh.bucket)),
    )
    # ... and the same object put again (same content: same ETag, a new real event).
    fresh.s3.put_object(Bucket=fresh.bucket, Key=key, Body=body)
    wait_for(
        "both repeated events to be handled",
        lambda: len(fresh.poller_log_lines("s3 object already ingested", key)) >= 2,
    )
    wait_for("the queue to be drained", lambda: fresh.queue_depth(fresh.resources.queue_url) == 0)

    assert uploads_of(clean_db, "twice.csv") == [
        (uuid.UUID(first["upload_id"]), "completed", 1, 10, 10)
    ]
    [(count,)] = db_rows(clean_db, "SELECT count(*) FROM movies")
    assert count == 10
    assert fresh.queue_depth(fresh.resources.dlq_url) == 0


def test_broken_file_fails_and_its_event_is_dead_lettered(fresh: Stack, clean_db: str) -> None:
    key = f"incoming/broken-{uuid.uuid4().hex[:6]}.csv"
    fresh.s3.put_object(Bucket=fresh.bucket, Key=key, Body=BAD_CSV)
    filename = key.rsplit("/", 1)[1]

    upload = wait_for("the broken file's upload", lambda: api_upload(fresh, filename))
    assert upload["status"] == "failed"
    assert upload["error"].startswith("invalid CSV header: missing required columns")

    def dead_letter() -> dict[str, Any] | None:
        answer = fresh.sqs.receive_message(
            QueueUrl=fresh.resources.dlq_url, WaitTimeSeconds=1, MaxNumberOfMessages=10
        )
        for message in answer.get("Messages", []):
            if json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"].endswith(filename):
                fresh.sqs.delete_message(
                    QueueUrl=fresh.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"]
                )
                return dict(message)
        return None

    wait_for("the event on the dead-letter queue", dead_letter)
    [(_, status, attempts, _, _)] = uploads_of(clean_db, filename)
    assert status == "failed"
    assert attempts == 3  # SQS_MAX_RECEIVE_COUNT deliveries, each tried
    assert movie_count(clean_db, "") == 0


def test_poller_killed_mid_ingest_then_restarted_completes_once(
    fresh: Stack, clean_db: str, tmp_path: Path
) -> None:
    rows = 120_000  # several chunks: long enough to be caught in the middle
    big = write_movies(tmp_path / "killed.csv", rows, prefix="E2E killed")
    fresh.s3.upload_file(str(big), fresh.bucket, "incoming/killed.csv")

    def processing() -> bool:
        found = uploads_of(clean_db, "killed.csv")
        return bool(found) and found[0][1] == "processing"

    wait_for("the ingestion to start", processing)
    fresh.kill_poller()
    [(upload_id, status, attempts, _, _)] = uploads_of(clean_db, "killed.csv")
    assert (status, attempts) == ("processing", 1)  # killed in the middle, not after
    assert movie_count(clean_db, "E2E killed ") == 0  # nothing of it published

    fresh.start_poller()
    upload = wait_for("the upload after the restart", lambda: api_upload(fresh, "killed.csv"))

    assert upload["upload_id"] == str(upload_id)
    assert upload["status"] == "completed", upload
    assert upload["counts"]["received"] == rows and upload["counts"]["inserted"] == rows
    assert upload["attempts"] >= 2
    assert len(uploads_of(clean_db, "killed.csv")) == 1
    assert movie_count(clean_db, "E2E killed ") == rows
    assert fresh.queue_depth(fresh.resources.dlq_url) == 0
