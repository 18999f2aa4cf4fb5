"""The HTTP API through the app (FastAPI TestClient) against the real PostgreSQL: every
endpoint, every error, the seed's request forms, and a full upload -> status -> movies flow."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core import db
from functions.core import schema as migrations
from functions.core.ingest.header import MAX_HEADER_CHARS
from tests.api_support import (
    API_KEY,
    UPLOAD,
    api_env,
    assert_error,
    client,
    csv_bytes,
    post_csv,
    reset_caches,
    row,
    stored_files,
    wait_finished,
)
from tests.conftest import SAMPLE_CSV

__all__ = ["api_env", "client"]  # fixtures


def upload_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM uploads").fetchone()[0]  # type: ignore[index]


# --- ping and health -------------------------------------------------------------------------


def test_ping_answers_as_the_seed_documents_it(client: TestClient) -> None:
    response = client.get("/api/v1/ping")
    assert response.status_code == 200
    assert response.json() == "Service is up!"


def test_health_is_ok_when_the_database_answers_and_the_schema_is_current(
    client: TestClient,
) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "pending_migrations": [],
        "broker": "ok",  # Redis runs wherever the tests do
    }


def test_health_reports_an_unreachable_broker_without_failing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    reset_caches()
    response = client.get("/api/v1/health")
    assert response.status_code == 200, response.text
    assert response.json()["broker"] == "unreachable"


def test_health_is_503_when_a_migration_is_pending(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), extra)
    (extra / "9999_future.sql").write_text("-- depends: 0001_schema\nSELECT 1;\n")
    monkeypatch.setattr(migrations, "migrations_dir", lambda: extra)
    error = assert_error(client.get("/api/v1/health"), 503, "unhealthy")
    assert error["details"]["health"]["pending_migrations"] == ["9999_future"]
    assert "9999_future" in error["message"]


def test_health_is_503_when_the_database_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    reset_caches()
    db.database_url.cache_clear()
    try:
        error = assert_error(client.get("/api/v1/health"), 503, "unhealthy")
        assert error["details"]["health"]["database"] == "unreachable"
    finally:
        monkeypatch.undo()
        reset_caches()
        db.database_url.cache_clear()


# --- upload: the happy path --------------------------------------------------------------------


def test_seed_upload_form_is_accepted_then_processed_and_the_movies_are_visible(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    response = post_csv(client, SAMPLE_CSV.read_bytes(), filename="movies_sample_real.csv")
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"upload_id", "status", "status_url", "duplicate"}
    assert body["duplicate"] is False
    assert body["status_url"].endswith(f"/api/v1/uploads/{body['upload_id']}")
    assert response.headers["location"] == body["status_url"]

    status = wait_finished(client, body["status_url"])
    assert status["status"] == "completed", status
    assert status["counts"] == {
        "received": 10,
        "inserted": 10,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    assert status["filename"] == "movies_sample_real.csv"
    assert status["progress"]["fraction"] == 1.0
    assert status["finished_at"] is not None and status["error"] is None

    with psycopg.connect(database_url) as conn:
        titles = {t for (t,) in conn.execute("SELECT title FROM movies")}
    assert {"Toy Story", "Jumanji"} <= titles and len(titles) == 10
    listed = client.get("/api/v1/movies?page=1&page_size=10&sort_by=release_date")
    assert listed.status_code == 200 and listed.json()["total"] == 10


def test_upload_without_the_trailing_slash_works_too(client: TestClient) -> None:
    response = post_csv(client, csv_bytes(row("Alpha")), url="/api/v1/upload?use_celery=false")
    assert response.status_code == 202, response.text
    assert wait_finished(client, response.json()["status_url"])["status"] == "completed"


def test_same_content_again_does_no_new_work_and_points_at_the_earlier_upload(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    content = csv_bytes(row("Alpha"), row("Beta"))
    first = post_csv(client, content)
    assert first.status_code == 202
    wait_finished(client, first.json()["status_url"])

    again = post_csv(client, content, filename="renamed.csv")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["upload_id"] == first.json()["upload_id"]
    assert again.json()["status"] == "completed"
    assert upload_count(database_url) == 1
    assert len(stored_files(api_env)) == 1  # the second copy was dropped


def test_a_failed_upload_sent_again_is_run_again(
    client: TestClient, api_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOVIEDB_MAX_ERROR_RATE", "0")
    reset_caches()
    content = csv_bytes(row("Alpha"), row("Bad", date="not-a-date"))
    first = post_csv(client, content)
    failed = wait_finished(client, first.json()["status_url"])
    assert failed["status"] == "failed" and "rejected" in failed["error"]

    again = post_csv(client, content)
    assert again.status_code == 202
    assert again.json() | {"status_url": None} == {
        "upload_id": first.json()["upload_id"],
        "status": "pending",
        "status_url": None,
        "duplicate": True,
    }
    assert wait_finished(client, again.json()["status_url"])["attempts"] == 2
    assert len(stored_files(api_env)) == 1  # it ran on the new copy; the old one is gone


def test_rejected_rows_download_as_csv(client: TestClient) -> None:
    content = csv_bytes(row("Alpha"), row("Bad", date="2001-13-45"), row("Gamma"))
    accepted = post_csv(client, content).json()
    status = wait_finished(client, accepted["status_url"])
    assert status["counts"]["rejected"] == 1 and status["counts"]["inserted"] == 2

    response = client.get(f"/api/v1/uploads/{accepted['upload_id']}/rejects")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    records = list(csv.reader(io.StringIO(response.text)))
    assert records[0] == ["line", "column", "reason", "raw_record"]
    assert len(records) == 2
    line, column, reason, raw = records[1]
    assert (line, column) == ("3", "release_date")
    assert "2001-13-45" in reason and raw.startswith("1000.0,,en,Bad,")


FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd"]


def test_rejects_download_neutralises_spreadsheet_formulas(client: TestClient) -> None:
    lines = "".join(f"{formula},x\r\n" for formula in FORMULAS)
    accepted = post_csv(client, csv_bytes(row("Alpha")) + lines.encode()).json()
    status = wait_finished(client, accepted["status_url"])
    assert status["counts"]["rejected"] == len(FORMULAS)
    response = client.get(f"/api/v1/uploads/{accepted['upload_id']}/rejects")
    records = list(csv.reader(io.StringIO(response.text)))[1:]
    raws = [raw for _, _, _, raw in records]
    assert raws == [f"'{formula},x\r\n" for formula in FORMULAS]


def test_rejects_download_keeps_other_raw_records_as_they_were(client: TestClient) -> None:
    accepted = post_csv(client, csv_bytes(row("Alpha")) + b"'quoted,x\r\n1.5,y\r\n").json()
    wait_finished(client, accepted["status_url"])
    response = client.get(f"/api/v1/uploads/{accepted['upload_id']}/rejects")
    raws = [raw for *_, raw in list(csv.reader(io.StringIO(response.text)))[1:]]
    assert raws == ["'quoted,x\r\n", "1.5,y\r\n"]


def test_rejects_of_a_clean_upload_is_just_the_header(client: TestClient) -> None:
    accepted = post_csv(client, csv_bytes(row("Alpha"))).json()
    wait_finished(client, accepted["status_url"])
    response = client.get(f"/api/v1/uploads/{accepted['upload_id']}/rejects")
    assert response.text == "line,column,reason,raw_record\n"


# --- upload: every error, with nothing left behind ---------------------------------------------


def assert_nothing_left(api_env: Path, database_url: str) -> None:
    assert upload_count(database_url) == 0
    assert stored_files(api_env) == []


def test_upload_without_a_key_is_401(client: TestClient, api_env: Path, database_url: str) -> None:
    assert_error(post_csv(client, csv_bytes(row("A")), key=None), 401, "missing_api_key")
    assert_nothing_left(api_env, database_url)


def test_upload_with_a_wrong_key_is_403(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    assert_error(post_csv(client, csv_bytes(row("A")), key="guess"), 403, "wrong_api_key")
    assert_nothing_left(api_env, database_url)


def test_upload_without_the_file_field_is_400(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    response = client.post(
        UPLOAD,
        files={"document": ("movies.csv", csv_bytes(row("A")), "text/csv")},
        headers={"X-API-Key": API_KEY},
    )
    error = assert_error(response, 400, "missing_file")
    assert "'file'" in error["message"]
    assert_nothing_left(api_env, database_url)


def test_upload_with_a_plain_form_value_instead_of_a_file_is_400(client: TestClient) -> None:
    # multipart, but `file` is a plain form value (no file name): no file was sent
    plain = client.post(
        UPLOAD, files={"file": (None, "title,year")}, headers={"X-API-Key": API_KEY}
    )
    error = assert_error(plain, 400, "missing_file")
    assert "'file'" in error["message"]
    # a url-encoded form is not multipart at all
    form = client.post(UPLOAD, data={"file": "title,year"}, headers={"X-API-Key": API_KEY})
    assert_error(form, 415, "not_multipart")


def test_upload_that_is_not_multipart_is_415(client: TestClient) -> None:
    response = client.post(UPLOAD, json={"file": "x"}, headers={"X-API-Key": API_KEY})
    error = assert_error(response, 415, "not_multipart")
    assert "multipart/form-data" in error["message"]


def test_upload_of_a_file_that_is_not_csv_is_415(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    response = post_csv(client, b"%PDF-1.7", filename="poster.pdf", content_type="application/pdf")
    error = assert_error(response, 415, "not_csv")
    assert error["details"] == {"filename": "poster.pdf", "content_type": "application/pdf"}
    assert_nothing_left(api_env, database_url)


def test_generic_content_type_is_accepted_for_a_csv_file_name(client: TestClient) -> None:
    response = post_csv(
        client, csv_bytes(row("A")), filename="m.CSV", content_type="application/octet-stream"
    )
    assert response.status_code == 202, response.text


def test_upload_with_a_wrong_header_is_400_naming_the_missing_columns(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    content = b"title,year\r\nAlpha,2001\r\n"
    error = assert_error(post_csv(client, content), 400, "invalid_csv_header")
    assert "original_language" in error["details"]["missing"]
    assert "title" not in error["details"]["missing"]
    assert "missing required columns" in error["message"]
    assert_nothing_left(api_env, database_url)


def test_upload_of_an_empty_file_is_400(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    assert_error(post_csv(client, b""), 400, "empty_file")
    assert_nothing_left(api_env, database_url)


@pytest.mark.parametrize("blank", ["   \n", " \r\n", "\t\n"])
def test_whitespace_lines_before_the_header_are_skipped(client: TestClient, blank: str) -> None:
    response = post_csv(client, blank.encode() + csv_bytes(row("Alpha")))
    assert response.status_code == 202, response.text
    status = wait_finished(client, response.json()["status_url"])
    assert status["status"] == "completed", status["error"]
    assert status["counts"]["inserted"] == 1


def test_cr_only_line_endings_are_400_with_nothing_left_behind(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    content = csv_bytes(row("Alpha"), row("Beta")).replace(b"\r\n", b"\r")
    error = assert_error(post_csv(client, content), 400, "unsupported_line_endings")
    assert "LF" in error["message"]
    assert_nothing_left(api_env, database_url)


def test_header_line_over_the_limit_is_400_with_nothing_left_behind(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    content = b"title" + b",x" * 40_000 + b"\r\n" + csv_bytes(row("Alpha"))
    error = assert_error(post_csv(client, content), 400, "header_too_long")
    assert error["details"] == {"max_chars": MAX_HEADER_CHARS}
    assert_nothing_left(api_env, database_url)


def multipart_body(disposition: bytes, content: bytes) -> bytes:
    return (
        b"--b0undary\r\nContent-Disposition: form-data; " + disposition + b"\r\n"
        b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n--b0undary--\r\n"
    )


@pytest.mark.parametrize("name", [b"a\x00b.csv", b"\x00", b"movies\x01.csv"])
def test_file_name_with_a_nul_or_control_character_is_400_with_nothing_left_behind(
    client: TestClient, api_env: Path, database_url: str, name: bytes
) -> None:
    body = multipart_body(b'name="file"; filename="' + name + b'"', csv_bytes(row("Alpha")))
    response = client.post(
        UPLOAD,
        content=body,
        headers={"X-API-Key": API_KEY, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert_error(response, 400, "invalid_filename")
    assert_nothing_left(api_env, database_url)


def test_upload_over_the_size_limit_is_413_with_nothing_left_behind(
    client: TestClient, api_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "2000")
    reset_caches()
    content = csv_bytes(*(row(f"Movie {i}") for i in range(40)))
    assert len(content) > 2000
    error = assert_error(post_csv(client, content), 413, "upload_too_large")
    assert error["details"] == {"max_bytes": 2000}
    assert_nothing_left(api_env, database_url)


def test_upload_declared_far_over_the_limit_is_refused_before_reading(
    client: TestClient, api_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    reset_caches()
    body = b"x" * 200_000
    response = client.post(
        UPLOAD,
        content=body,
        headers={
            "X-API-Key": API_KEY,
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(len(body)),
        },
    )
    assert_error(response, 413, "upload_too_large")
    assert_nothing_left(api_env, database_url)


def test_truncated_upload_is_400_with_nothing_left_behind(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="m.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + csv_bytes(row("Alpha"), row("Beta"))
    )  # no closing boundary: the client went away mid-file
    response = client.post(
        UPLOAD,
        content=body,
        headers={"X-API-Key": API_KEY, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert_error(response, 400, "malformed_multipart")
    assert_nothing_left(api_env, database_url)


def test_use_celery_true_with_the_broker_down_is_503_and_keeps_nothing(
    client: TestClient, api_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    reset_caches()
    response = post_csv(client, csv_bytes(row("A")), url="/api/v1/upload/?use_celery=true")
    error = assert_error(response, 503, "broker_unavailable")
    assert "127.0.0.1:1" in error["message"]
    assert_nothing_left(api_env, database_url)


def test_use_celery_that_is_not_a_boolean_is_422(client: TestClient) -> None:
    response = post_csv(client, csv_bytes(row("A")), url="/api/v1/upload/?use_celery=maybe")
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["loc"] == ["query", "use_celery"]


# --- upload status and listing -----------------------------------------------------------------


def test_uploads_are_listed_newest_first_and_paginated(client: TestClient) -> None:
    answers = [post_csv(client, csv_bytes(row(f"M{i}"))).json() for i in range(3)]
    ids = [answer["upload_id"] for answer in answers]
    for answer in answers:
        wait_finished(client, answer["status_url"])
    first = client.get("/api/v1/uploads?page=1&page_size=2").json()
    second = client.get("/api/v1/uploads?page=2&page_size=2").json()
    assert first["total"] == second["total"] == 3
    assert [u["upload_id"] for u in first["items"] + second["items"]] == ids[::-1]
    assert (first["page"], first["page_size"]) == (1, 2)
    completed = client.get("/api/v1/uploads?status=completed").json()
    assert completed["total"] == 3
    assert client.get("/api/v1/uploads?status=failed").json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
    }


@pytest.mark.parametrize(
    "query", ["page=0", "page_size=0", "page_size=101", "page=x", "status=done", "page=1%20"]
)
def test_bad_listing_parameters_are_422(client: TestClient, query: str) -> None:
    assert_error(client.get(f"/api/v1/uploads?{query}"), 422, "invalid_request")


def test_unknown_upload_is_404(client: TestClient) -> None:
    missing = uuid.uuid4()
    error = assert_error(client.get(f"/api/v1/uploads/{missing}"), 404, "upload_not_found")
    assert error["details"] == {"upload_id": str(missing)}
    assert_error(client.get(f"/api/v1/uploads/{missing}/rejects"), 404, "upload_not_found")


def test_upload_id_that_is_not_a_uuid_is_422(client: TestClient) -> None:
    assert_error(client.get("/api/v1/uploads/42"), 422, "invalid_request")
    assert_error(client.get("/api/v1/uploads/42/rejects"), 422, "invalid_request")


def test_unknown_path_and_wrong_method_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    response = client.delete("/api/v1/ping")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT"])
def test_wrong_method_lists_every_method_of_the_path(client: TestClient, method: str) -> None:
    # GET /uploads and POST /uploads live in two routers: Allow names both
    response = client.request(method, "/api/v1/uploads")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    assert client.request(method, "/api/v1/ping").headers["allow"] == "GET"


def test_docs_and_openapi_describe_every_error(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "X-API-Key" in spec["info"]["description"]
    upload = spec["paths"]["/api/v1/upload"]["post"]
    assert {"200", "202", "400", "401", "403", "413", "415", "422", "503"} <= set(
        upload["responses"]
    )
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert upload["security"] == [{"APIKeyHeader": []}]
    for path in spec["paths"].values():
        for operation in path.values():
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (operation["operationId"], code)


def test_upload_that_cannot_be_stored_is_503_and_records_nothing(
    client: TestClient, api_env: Path, database_url: str
) -> None:
    api_env.mkdir(parents=True, exist_ok=True)
    (api_env / "uploads").write_text("a file where the uploads directory should be")
    response = post_csv(client, csv_bytes(row("Stored nowhere")))
    error = assert_error(response, 503, "storage_unavailable")
    assert "could not be stored" in error["message"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM uploads").fetchone() == (0,)
