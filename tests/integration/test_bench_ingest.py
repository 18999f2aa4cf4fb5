"""Smoke test of the ingestion benchmark's data: a small generated file through `moviedb ingest`.

No timings here (bench/ingest.py prints those); this checks that the generated file is one the
pipeline reads as intended: every deliberately bad record rejected at its line, every other
record loaded, duplicates merged, and the counts adding up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from bench.generate import BAD_KINDS, generate
from tests.conftest import REPO

OUTCOMES = ("inserted", "updated", "unchanged", "rejected")


def test_generated_file_loads_with_exactly_its_bad_rows_rejected(
    clean_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "movies.csv"
    manifest = generate(path, rows=2000, seed=7)
    assert {kind for _, kind in manifest.bad_lines} == {kind for kind, _ in BAD_KINDS}
    assert path.read_bytes().count(b"\r\n") >= manifest.rows + 1  # CRLF, as the real export

    done = subprocess.run(
        [sys.executable, "-m", "functions.cli", "ingest", "--json", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)

    assert summary["status"] == "completed"
    assert summary["received"] == manifest.rows == 2000
    assert summary["received"] == sum(summary[name] for name in OUTCOMES)
    assert summary["rejected"] == len(manifest.bad_lines)
    assert summary["inserted"] == manifest.expected_inserted
    assert summary["updated"] + summary["unchanged"] == manifest.duplicates
    with psycopg.connect(clean_db) as conn:
        rejected_lines = {
            line
            for (line,) in conn.execute(
                "SELECT line FROM upload_rejections WHERE upload_id = %s",
                (summary["upload_id"],),
            )
        }
        movies = conn.execute("SELECT count(*) FROM movies").fetchone()
    assert rejected_lines == {line for line, _ in manifest.bad_lines}
    assert movies == (manifest.expected_inserted,)
