"""A failed upload says why with a stable `error_code` and a message for people; an
exception's own text (SQL, errno, hosts and ports) goes to the log, never to GET /uploads."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core.ingest import staging
from functions.core.ingest.intake import ingest_local_file
from tests.api_support import api_env, client, csv_bytes, post_csv, row, wait_finished
from tests.movie_files import HEADER

__all__ = ["api_env", "client"]  # fixtures

SECRET = "value too long for type character varying(8) at db.internal:6543"


def failed_upload(client: TestClient) -> dict:
    response = post_csv(client, csv_bytes(row("Alpha")))
    assert response.status_code == 202, response.text
    status = wait_finished(client, response.json()["status_url"])
    assert status["status"] == "failed", status
    return status


def test_an_unexpected_database_error_is_internal_error_without_its_text(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_copy(*args: object, **kwargs: object) -> None:
        raise psycopg.errors.StringDataRightTruncation(SECRET)

    monkeypatch.setattr(staging, "copy_rows", broken_copy)
    with caplog.at_level(logging.ERROR, logger="functions.core.ingest.pipeline"):
        status = failed_upload(client)
    assert status["error_code"] == "internal_error"
    assert status["error"] == "the upload could not be processed because of an internal error"
    listed = client.get("/api/v1/uploads").json()["items"][0]
    assert listed["error_code"] == "internal_error"
    assert "StringDataRightTruncation" not in listed["error"] and SECRET not in listed["error"]
    # the details are in the log, for operators
    assert any(r.exc_info and SECRET in str(r.exc_info[1]) for r in caplog.records)


def test_a_full_disk_while_reading_the_stored_file_is_storage_unavailable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/var/lib/moviedb/uploads/x.csv")

    monkeypatch.setattr(staging, "copy_rows", disk_full)
    status = failed_upload(client)
    assert status["error_code"] == "storage_unavailable"
    assert "Errno" not in status["error"] and "/var/lib" not in status["error"]


def test_a_lost_database_connection_is_database_unavailable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dropped(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError('connection to server at "10.0.0.7", port 5432 failed')

    monkeypatch.setattr(staging, "copy_rows", dropped)
    status = failed_upload(client)
    assert status["error_code"] == "database_unavailable"
    assert "10.0.0.7" not in status["error"] and "5432" not in status["error"]


def test_a_bad_header_and_too_many_rejected_rows_keep_their_messages_with_a_code(
    clean_db: str, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,year\r\nAlpha,2001\r\n")
    upload = ingest_local_file(wrong, max_error_rate=None).upload
    assert upload.error_code == "invalid_csv_header"
    assert upload.error is not None and "missing required columns: title" in upload.error

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "1.0,,en,,,,,,,,,,,,\r\n", newline="")
    upload = ingest_local_file(bad, max_error_rate=0.0).upload
    assert upload.error_code == "too_many_rejected_rows"
    assert upload.error == "1 of 1 rows rejected (100.0%), over the allowed error rate of 0.0%"


def test_a_completed_upload_has_no_error_code(client: TestClient) -> None:
    response = post_csv(client, csv_bytes(row("Beta")))
    status = wait_finished(client, response.json()["status_url"])
    assert status["status"] == "completed"
    assert status["error_code"] is None and status["error"] is None
