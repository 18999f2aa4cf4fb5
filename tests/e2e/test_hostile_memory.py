"""A real `moviedb serve` keeps its memory under 250 MB against hostile uploads over HTTP: a
200 MB line and a 50 MB field, measured as bench/hostile_memory.py measures them (the server's
process tree sampled while each upload is sent and processed, and the kernel's peak). A memory
bound, not a timing: the machine's load does not change it. The rejects downloads of such
uploads are measured by the benchmark (docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from bench.hostile_memory import hostile_cases, table
from bench.memory import tree_rss
from tests.api_support import API_KEY, reset_caches
from tests.e2e.server_process import serve

LIMIT_MB = 250


@pytest.fixture
def data_dir(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(tmp_path / "data"))
    reset_caches()
    return tmp_path / "data"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_200_mb_line_and_a_50_mb_field_keep_the_server_under_250_mb(
    data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    with (
        serve(database_url, data_dir) as server,
        httpx.Client(base_url=server.base, timeout=300) as http,
    ):
        pid = server.process.pid
        idle = tree_rss(psutil.Process(pid)) / 2**20
        results = hostile_cases(
            http, pid, API_KEY, tmp_path, line_mb=200, field_mb=50, downloads=False
        )
    report = table(results, idle, LIMIT_MB)
    print(report)
    assert [result.case for result in results] == [
        "upload: one 200 MB line",
        "upload: one 50 MB field",
    ]
    assert all(result.peak_mb < LIMIT_MB for result in results), report
