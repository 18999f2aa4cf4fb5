"""functions/ingest.handler on recorded S3 and SQS events: moto's in-process S3, real PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from functions.core.db import connect
from functions.core.s3.events import S3Object
from functions.core.s3.intake import IngestionFailed
from functions.core.s3.presign import create_presigned_upload
from functions.core.uploads.records import get_upload, register_s3_object
from functions.ingest import handler
from tests.api_support import csv_bytes, row
from tests.integration.s3_support import (
    BUCKET,
    RECORDED_KEY,
    SAMPLE,
    put,
    recorded,
    s3,
    s3_event,
    sqs_event,
)

__all__ = ["s3"]  # the fixture

BAD_CSV = b"title,overview\r\nAlien,In space\r\n"  # required columns missing


def uploads(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT u.id, u.status, u.source, u.filename, u.received, u.inserted, u.attempts,"
        " u.error, u.storage_uri, o.key, o.etag FROM uploads u"
        " LEFT JOIN s3_objects o ON o.upload_id = u.id ORDER BY u.created_at"
    ).fetchall()


def movie_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM movies").fetchone()[0]  # type: ignore[index]


@pytest.mark.parametrize("source", ["localstack", "moto"])
def test_recorded_sqs_event_ingests_the_object_at_its_decoded_key(
    s3: Any, conn: psycopg.Connection, source: str
) -> None:
    put(s3, RECORDED_KEY, SAMPLE.read_bytes())

    assert handler(recorded(f"sqs_s3_put_{source}.json")) == {"batchItemFailures": []}

    [(_, status, src, filename, received, inserted, attempts, error, uri, key, etag)] = uploads(
        conn
    )
    assert (status, src, received, inserted, attempts, error) == (
        "completed",
        "s3",
        10,
        10,
        1,
        None,
    )
    assert filename == "Films été 2024+extra (v2).csv"
    assert uri == f"s3://{BUCKET}/{RECORDED_KEY}" and key == RECORDED_KEY
    assert etag == "55e59ce5e277ed39cde8f2fb0755581a"
    assert movie_count(conn) == 10


def test_direct_s3_event_ingests_the_object(s3: Any, conn: psycopg.Connection) -> None:
    put(s3, RECORDED_KEY, SAMPLE.read_bytes())

    assert handler(recorded("s3_put_aws.json")) is None

    [upload] = uploads(conn)
    assert upload[1] == "completed" and upload[4] == 10


def test_same_event_delivered_twice_ingests_once(s3: Any, conn: psycopg.Connection) -> None:
    put(s3, RECORDED_KEY, SAMPLE.read_bytes())
    event = recorded("sqs_s3_put_moto.json")

    handler(event)
    first = uploads(conn)
    assert handler(event) == {"batchItemFailures": []}

    assert uploads(conn) == first  # one upload, still its first attempt
    assert first[0][6] == 1
    assert movie_count(conn) == 10


def test_concurrent_deliveries_register_one_upload(s3: Any, conn: psycopg.Connection) -> None:
    obj = S3Object(bucket=BUCKET, key="incoming/a.csv", etag="e1", size=5)
    found: list[Any] = []

    def register() -> None:
        with connect() as own:
            found.append(
                register_s3_object(own, obj, filename="a.csv", max_error_rate=None).upload.id
            )

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(found)) == 1 and len(found) == 6
    assert len(uploads(conn)) == 1


@pytest.mark.parametrize("source", ["localstack", "moto"])
def test_test_event_is_skipped(s3: Any, conn: psycopg.Connection, source: str) -> None:
    assert handler(recorded(f"sqs_s3_test_event_{source}.json")) == {"batchItemFailures": []}
    assert uploads(conn) == []


def test_removal_event_is_skipped(s3: Any, conn: psycopg.Connection) -> None:
    assert handler(recorded("s3_delete_aws.json")) is None
    assert uploads(conn) == []


def test_bad_file_fails_its_upload_and_reports_its_message(
    s3: Any, conn: psycopg.Connection
) -> None:
    etag = put(s3, "incoming/bad.csv", BAD_CSV)
    event = sqs_event(s3_event("incoming/bad.csv", etag))

    assert handler(event) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    [upload] = uploads(conn)
    assert upload[1] == "failed"
    assert upload[7].startswith("invalid CSV header: missing required columns")

    # redelivered (SQS retries it until the dead-letter queue): tried again, same verdict
    assert handler(event) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    [again] = uploads(conn)
    assert (again[0], again[1], again[6]) == (upload[0], "failed", 2)
    assert movie_count(conn) == 0


def test_one_bad_file_does_not_fail_its_batch(s3: Any, conn: psycopg.Connection) -> None:
    good = put(s3, "incoming/good.csv", csv_bytes(row("Heat"), row("Ronin")))
    bad = put(s3, "incoming/bad.csv", BAD_CSV)

    answer = handler(
        sqs_event(s3_event("incoming/good.csv", good), s3_event("incoming/bad.csv", bad))
    )

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    statuses = {key: status for _, status, *_, key, _etag in uploads(conn)}
    assert statuses == {"incoming/good.csv": "completed", "incoming/bad.csv": "failed"}
    assert movie_count(conn) == 2


def test_direct_event_with_a_bad_file_raises(s3: Any, conn: psycopg.Connection) -> None:
    etag = put(s3, "incoming/bad.csv", BAD_CSV)
    with pytest.raises(IngestionFailed, match="invalid CSV header"):
        handler(s3_event("incoming/bad.csv", etag))


def test_malformed_message_is_reported(s3: Any, conn: psycopg.Connection) -> None:
    event = sqs_event({"no": "records"})
    assert handler(event) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert uploads(conn) == []


def test_object_gone_before_its_event_is_a_failure(s3: Any, conn: psycopg.Connection) -> None:
    event = sqs_event(s3_event("incoming/gone.csv", "0123"))
    assert handler(event) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    [upload] = uploads(conn)
    assert upload[1] == "failed" and upload[7] == "the uploaded file is no longer in storage"


def test_object_outside_the_incoming_prefix_is_left_alone(
    s3: Any, conn: psycopg.Connection
) -> None:
    etag = put(s3, "uploads/stored-by-the-api.csv", SAMPLE.read_bytes())
    assert handler(sqs_event(s3_event("uploads/stored-by-the-api.csv", etag))) == {
        "batchItemFailures": []
    }
    assert uploads(conn) == []


def test_new_content_at_the_same_key_is_a_new_upload(s3: Any, conn: psycopg.Connection) -> None:
    first = put(s3, "incoming/weekly.csv", csv_bytes(row("Heat")))
    handler(s3_event("incoming/weekly.csv", first))
    second = put(s3, "incoming/weekly.csv", csv_bytes(row("Heat"), row("Ronin")))
    handler(s3_event("incoming/weekly.csv", second))

    done = uploads(conn)
    assert [(u[1], u[4], u[5], u[10]) for u in done] == [
        ("completed", 1, 1, first),
        ("completed", 2, 1, second),
    ]


def test_presigned_upload_is_completed_by_its_object_event(
    s3: Any, conn: psycopg.Connection
) -> None:
    body = SAMPLE.read_bytes()
    presigned = create_presigned_upload(conn, filename="Films été.csv", size=len(body))
    waiting = get_upload(conn, presigned.upload.id)
    assert (waiting.status, waiting.source, waiting.storage_uri) == ("pending", "s3", None)
    assert presigned.key == f"incoming/{presigned.upload.id}/Films été.csv"
    assert presigned.fields["key"] == presigned.key

    etag = put(s3, presigned.key, body)
    assert handler(sqs_event(s3_event(presigned.key, etag))) == {"batchItemFailures": []}

    [upload] = uploads(conn)  # that same record, no other
    assert upload[0] == presigned.upload.id
    assert (upload[1], upload[4], upload[10]) == ("completed", 10, etag)
    assert upload[8] == f"s3://{BUCKET}/{presigned.key}"
