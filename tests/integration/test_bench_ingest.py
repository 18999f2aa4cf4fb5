"""Smoke tests of the ingestion benchmark: its data, a small generated file through `moviedb
ingest`, and its floor.

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
from bench.ingest import export_accepted_rows, floor_load
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


def test_the_floor_loads_the_exported_rows_into_a_fully_indexed_catalogue(
    clean_db: str, tmp_path: Path
) -> None:
    """bench/ingest.py --floor measures what it says: the pre-cleaned rows COPYed and published
    through the rebuild, into a catalogue with every constraint and index `movies` had."""
    path = tmp_path / "movies.csv"
    generate(path, rows=300, seed=11)
    subprocess.run(
        [sys.executable, "-m", "functions.cli", "ingest", "--json", str(path)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=True,
    )
    exported = tmp_path / "accepted.copy"
    rows = export_accepted_rows(clean_db, exported)
    keys = "SELECT title, release_date, original_language FROM movies ORDER BY 1, 2, 3"
    indexes = "SELECT indexname FROM pg_indexes WHERE tablename = 'movies' ORDER BY 1"
    with psycopg.connect(clean_db, autocommit=True) as conn:
        loaded_keys = conn.execute(keys).fetchall()
        index_names = conn.execute(indexes).fetchall()
        conn.execute("TRUNCATE movies")

    assert floor_load(clean_db, exported) > 0

    with psycopg.connect(clean_db) as conn:
        assert conn.execute(keys).fetchall() == loaded_keys
        assert len(loaded_keys) == rows > 250
        assert conn.execute(indexes).fetchall() == index_names
        staging_left = conn.execute("SELECT to_regclass('floor_staging')").fetchone()
    assert staging_left == (None,)
