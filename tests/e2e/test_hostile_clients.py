"""Hostile and heavy clients against a real `moviedb serve` process, over real loopback sockets:
stalled upload bodies, aborted downloads, a burst of uploads. The API keeps answering reads,
and nothing is left behind (issue 15 items 1, 5, 6)."""

from __future__ import annotations

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
