"""`moviedb serve --workers 2`: two API processes on one port, and `/metrics` counting every
request and every upload exactly once whichever of them answers the scrape. Two `moviedb serve`
processes on one database: the listing's exact count is made once for both."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psutil

from tests.api_support import csv_bytes, row
from tests.e2e.test_notifications import data_dir, start_server, upload
from tests.e2e.test_serve import wait_until

__all__ = ["data_dir"]


def sample(page: str, name: str, **labels: str) -> float:
    """The value of one sample of the metrics page (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in page.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            total += float(match.group(2))
    return total


def test_two_workers_serve_and_metrics_count_every_request_and_upload_once(
    data_dir: Path, database_url: str
) -> None:
    server = start_server(database_url, data_dir, "--workers", "2")
    try:
        workers = wait_until(lambda: _worker_pids(server.process.pid), what="two workers")
        assert len(workers) == 2
        ping = {"route": "/api/v1/ping", "method": "GET", "status": "200"}
        with httpx.Client(base_url=server.base, timeout=30) as http:
            count = "moviedb_http_request_duration_seconds_count"
            before = sample(http.get("/metrics").text, count, **ping)  # the start-up checks
            for _ in range(40):  # spread over both workers by the kernel
                assert http.get("/api/v1/ping").status_code == 200
            ids = [upload(http, csv_bytes(row(f"Movie {n}"))) for n in range(3)]
            for upload_id in ids:
                wait_until(
                    lambda u=upload_id: (
                        http.get(f"/api/v1/uploads/{u}").json()["status"] == "completed"
                    ),
                    what="the uploads",
                )
            for _ in range(4):  # whichever worker answers, the same totals
                page = http.get("/metrics").text
                assert sample(page, count, **ping) - before == 40
                assert sample(page, "moviedb_uploads_total", status="completed") == 3
                assert sample(page, "moviedb_rows_ingested_total", outcome="inserted") == 3
                uploads_posted = sample(
                    page,
                    "moviedb_http_request_duration_seconds_count",
                    route="/api/v1/upload",
                    method="POST",
                    status="202",
                )
                assert uploads_posted == 3
    finally:
        server.stop()


def test_the_shared_count_cache_is_computed_once_for_two_processes(
    data_dir: Path, database_url: str
) -> None:
    """Two servers of their own (each /metrics tells its own process's lookups); the same
    filtered count asked of both is counted by the first and read by the second, and again
    once for both after a publish advanced the catalogue's version."""
    first = start_server(database_url, data_dir / "first")
    second = start_server(database_url, data_dir / "second")
    listing = "/api/v1/movies?language=fr&count=exact"
    french = [row(f"Film {n}", lang="fr") for n in range(3)]
    try:
        with (
            httpx.Client(base_url=first.base, timeout=30) as one,
            httpx.Client(base_url=second.base, timeout=30) as two,
        ):
            _publish(one, csv_bytes(*french, row("An English one")))
            assert one.get(listing).json()["total"] == 3
            assert two.get(listing).json()["total"] == 3
            assert _lookups(one) == {("process", "miss"): 1, ("shared", "miss"): 1}
            assert _lookups(two) == {("process", "miss"): 1, ("shared", "hit"): 1}

            _publish(two, csv_bytes(row("Film 3", lang="fr")))  # a new catalogue version
            wait_until(lambda: one.get(listing).json()["total"] == 4, what="the new total")
            assert two.get(listing).json()["total"] == 4
            counted = [_lookups(http).get(("shared", "miss"), 0) for http in (one, two)]
            assert sum(counted) == 2  # once per version, for both processes
    finally:
        first.stop()
        second.stop()


def _publish(http: httpx.Client, content: bytes) -> None:
    upload_id = upload(http, content)
    wait_until(
        lambda: http.get(f"/api/v1/uploads/{upload_id}").json()["status"] == "completed",
        what="the upload",
    )


def _lookups(http: httpx.Client) -> dict[tuple[str, str], float]:
    """This server's moviedb_count_cache_total samples, by (layer, result)."""
    page = http.get("/metrics").text
    found = {}
    for layer in ("process", "shared"):
        for result in ("hit", "miss"):
            value = sample(page, "moviedb_count_cache_total", layer=layer, result=result)
            if value:
                found[(layer, result)] = value
    return found


def _worker_pids(parent: int) -> list[int] | None:
    """The uvicorn worker processes under the server (spawned: python -c from
    multiprocessing), once both answer."""
    children = psutil.Process(parent).children(recursive=False)
    workers = [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]
    return workers if len(workers) == 2 else None
