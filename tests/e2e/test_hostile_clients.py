"""Hostile and heavy clients against a real `moviedb serve` process, over real loopback sockets:
stalled upload bodies, aborted downloads, a burst of uploads. The API keeps answering reads,
and nothing is left behind (issue 15 items 1, 5, 6)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import psycopg
import pytest

from tests.api_support import API_KEY, csv_bytes, reset_caches, row
from tests.e2e.server_process import (
    answered,
    multipart_head,
    open_socket,
    read_response,
    serve,
    upload_request_head,
)
from tests.e2e.test_serve import wait_until
from tests.movie_files import HEADER, movie_rows


@pytest.fixture
def data_dir(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(tmp_path / "data"))
    reset_caches()
    return tmp_path / "data"


def post_upload(http: httpx.Client, content: bytes, name: str = "movies.csv") -> httpx.Response:
    return http.post(
        "/api/v1/upload",
        files={"file": (name, content, "text/csv")},
        headers={"X-API-Key": API_KEY},
    )


def wait_status(http: httpx.Client, status_url: str, timeout: float = 120.0) -> dict:
    return wait_until(
        lambda: (s := http.get(status_url).json())["status"] in ("completed", "failed") and s,
        timeout=timeout,
        what="the upload to finish",
    )


def stored_path(database_url: str, upload_id: str) -> Path:
    with psycopg.connect(database_url) as conn:
        (uri,) = conn.execute(
            "SELECT storage_uri FROM uploads WHERE id = %s", (upload_id,)
        ).fetchone()  # type: ignore[misc]
    return Path(unquote(urlparse(uri).path))


def stored_files(data_dir: Path) -> list[Path]:
    uploads = data_dir / "uploads"
    return sorted(uploads.iterdir()) if uploads.exists() else []


# --- item 5: stalled upload bodies ------------------------------------------------------------

STALLED = 12
IN_FLIGHT = 8
BODY_TIMEOUT = 10


@pytest.mark.timeout(180)
def test_stalled_upload_bodies_get_429_beyond_the_limit_408_after_the_timeout_and_reads_answer(
    data_dir: Path, database_url: str
) -> None:
    with serve(
        database_url,
        data_dir,
        MOVIEDB_UPLOAD_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        MOVIEDB_MAX_UPLOADS_IN_FLIGHT=str(IN_FLIGHT),
    ) as server:
        # Each sends its headers, the file's header row and a few rows of a 10 MB body, then
        # nothing more.
        start = multipart_head() + csv_bytes(row("Stalled A"), row("Stalled B"))
        sockets = [open_socket(server) for _ in range(STALLED)]
        for i, sock in enumerate(sockets):
            sock.sendall(upload_request_head(10_000_000) + start + f"Row {i}".encode())
        deadline = time.monotonic() + 60
        refused = wait_until(
            lambda: (
                (found := [s for s in sockets if answered(s)])
                and len(found) >= STALLED - IN_FLIGHT
                and found
            ),
            what="the uploads over the limit to be refused",
        )
        assert len(refused) == STALLED - IN_FLIGHT
        for sock in refused:
            answer = read_response(sock, deadline=deadline)
            assert answer.status == 429
            assert answer.headers["retry-after"].isdigit()
            assert json.loads(answer.body)["error"]["code"] == "too_many_uploads"
        stalled = [s for s in sockets if s not in refused]

        # While eight bodies stall, reads answer.
        with httpx.Client(base_url=server.base, timeout=30) as http:
            assert http.get("/api/v1/ping").status_code == 200
            assert http.get("/api/v1/movies?page_size=5").status_code == 200
            assert http.get("/api/v1/health").status_code == 200
        assert not any(answered(s) for s in stalled)  # still stalled while reads answered

        for sock in stalled:
            answer = read_response(sock, deadline=time.monotonic() + BODY_TIMEOUT + 60)
            assert answer.status == 408
            error = json.loads(answer.body)["error"]
            assert error["code"] == "body_timeout"
            sock.close()
        for sock in refused:
            sock.close()

        with httpx.Client(base_url=server.base, timeout=30) as http:
            assert http.get("/api/v1/uploads").json()["total"] == 0  # nothing registered
            # and a slot is free again: an upload goes through
            answer = post_upload(http, csv_bytes(row("After The Stall")))
            assert answer.status_code == 202, answer.text
            assert wait_status(http, answer.json()["status_url"])["status"] == "completed"
    # no partial body is kept: the only stored file is the completed upload's
    assert stored_files(data_dir) == [stored_path(database_url, answer.json()["upload_id"])]


# --- item 1: aborted rejects downloads --------------------------------------------------------

ABORTED_DOWNLOADS = 30
REJECTED_ROWS = 20_000


def idle_in_transaction(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        ).fetchone()  # type: ignore[misc]
    return count


@pytest.mark.timeout(300)
def test_aborted_rejects_downloads_leave_no_database_connection_behind(
    data_dir: Path, database_url: str
) -> None:
    # every row rejected (vote_average 99.5 is outside 0..10): a download of a few MB
    rejected = movie_rows(REJECTED_ROWS, prefix="Bad").replace(",6.5,", ",99.5,")
    with (
        serve(database_url, data_dir) as server,
        httpx.Client(base_url=server.base, timeout=60) as http,
    ):
        answer = post_upload(http, (HEADER + rejected).encode())
        assert answer.status_code == 202, answer.text
        done = wait_status(http, answer.json()["status_url"], timeout=240)
        assert done["counts"]["rejected"] == REJECTED_ROWS, done
        path = f"/api/v1/uploads/{done['upload_id']}/rejects"

        sockets = [open_socket(server) for _ in range(ABORTED_DOWNLOADS)]
        for sock in sockets:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        for sock in sockets:
            first = sock.recv(100)
            assert first.startswith(b"HTTP/1.1 200"), first
            sock.close()  # gone, with most of the download unread

        assert http.get("/api/v1/health").status_code == 200
        assert idle_in_transaction(database_url) == 0
        again = post_upload(http, csv_bytes(row("After The Aborts")))
        assert again.status_code == 202, again.text
        assert wait_status(http, again.json()["status_url"])["status"] == "completed"
        whole = http.get(path)  # and the download itself is whole for a client that stays
        assert whole.status_code == 200
        assert len(list(csv.reader(io.StringIO(whole.text)))) == 1 + REJECTED_ROWS
    assert idle_in_transaction(database_url) == 0


# --- item 6: a burst of queued uploads --------------------------------------------------------

SMALL_UPLOADS = 40
STILL_QUEUED = 20


def pending(http: httpx.Client) -> int:
    return http.get("/api/v1/uploads?status=pending&page_size=1").json()["total"]


@pytest.mark.timeout(400)
def test_forty_queued_uploads_do_not_stall_the_api_and_all_complete(
    data_dir: Path, database_url: str
) -> None:
    with (
        serve(database_url, data_dir, MOVIEDB_INGEST_THREADS="1") as server,
        httpx.Client(base_url=server.base, timeout=60) as http,
    ):
        large = post_upload(http, (HEADER + movie_rows(20_000, prefix="Large")).encode())
        assert large.status_code == 202, large.text
        for i in range(SMALL_UPLOADS):
            answer = post_upload(http, csv_bytes(row(f"Small {i}")), name=f"small-{i}.csv")
            assert answer.status_code == 202, answer.text

        assert pending(http) >= STILL_QUEUED
        assert http.get("/api/v1/ping").json() == "Service is up!"
        assert http.get("/api/v1/movies?page_size=5").status_code == 200
        assert pending(http) >= STILL_QUEUED  # the reads were answered while these waited

        wait_until(
            lambda: (
                http.get("/api/v1/uploads?status=completed&page_size=1").json()["total"]
                == SMALL_UPLOADS + 1
            ),
            timeout=360,
            what="every upload to complete",
        )
        assert http.get("/api/v1/uploads?status=failed&page_size=1").json()["total"] == 0
        listing = http.get("/api/v1/movies?page_size=1").json()
        assert listing["total"] == 20_000 + SMALL_UPLOADS


# --- item 13: what uvicorn itself refuses -----------------------------------------------------


@pytest.mark.parametrize(
    "request_head",
    [
        b"POST /api/v1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
    ],
    ids=["bad-content-length", "header-without-colon"],
)
def test_a_request_uvicorn_cannot_parse_is_a_400_in_the_error_shape(
    data_dir: Path, database_url: str, request_head: bytes
) -> None:
    with serve(database_url, data_dir) as server:
        sock = open_socket(server)
        sock.sendall(request_head)
        answer = read_response(sock, deadline=time.monotonic() + 30)
        sock.close()
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "bad_request"
