"""`moviedb serve --workers 2`: two API processes on one port, and `/metrics` counting every
request and every upload exactly once whichever of them answers the scrape."""

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


def _worker_pids(parent: int) -> list[int] | None:
    """The uvicorn worker processes under the server (spawned: python -c from
    multiprocessing), once both answer."""
    children = psutil.Process(parent).children(recursive=False)
    workers = [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]
    return workers if len(workers) == 2 else None
