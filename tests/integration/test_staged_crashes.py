"""A process SIGKILLed in the middle of a publish, or of a revert, then the same command run
again: the catalogue and the upload end exactly as one clean run leaves them (real
`moviedb` processes on the real PostgreSQL)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.test_ingestion import big_file, moviedb
from tests.movie_files import wait_for

ROWS = 120_000
WHOLE_CATALOGUE = (
    "SELECT id, title, original_title, original_language, overview, release_date, budget,"
    " revenue, runtime, status, vote_average, vote_count, production_company_id, genre_id,"
    " homepage, languages, last_upload_id FROM movies ORDER BY id"
)


def run(*args: str) -> dict[str, Any]:
    process = moviedb(*args, "--json")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


def state(conn: psycopg.Connection, upload_id: str) -> tuple[Any, ...]:
    upload = conn.execute(
        "SELECT status, received, inserted, updated, unchanged, rejected, removed, restored"
        " FROM uploads WHERE id = %s",
        (upload_id,),
    ).fetchone()
    return upload, conn.execute(WHOLE_CATALOGUE).fetchall()


def kill_while(conn: psycopg.Connection, victim: subprocess.Popen[bytes], statement: str) -> None:
    """SIGKILL `victim` while the database runs `statement` for it."""

    def running() -> bool:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND query ILIKE %s",
            (f"%{statement}%",),
        ).fetchone()
        return bool(found and found[0])

    wait_for(f"{statement!r} to run", running, timeout=120)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def staged(conn: psycopg.Connection, path: Path) -> str:
    """Ingest `path` for review; its upload id."""
    summary = run("ingest", "--review", str(path))
    assert summary["status"] == "validated", summary
    return str(summary["upload_id"])


@pytest.mark.parametrize(
    ("min_rows", "statement"),
    [
        pytest.param("100000000", 'INSERT INTO "movies"', id="row by row"),
        pytest.param("0", 'INSERT INTO "movies_next"', id="rebuild"),
    ],
)
def test_a_publish_killed_midway_then_run_again_ends_like_one_clean_publish(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_rows, statement
) -> None:
    monkeypatch.setenv("MOVIEDB_REBUILD_MIN_ROWS", min_rows)  # the publishing processes' way
    path = big_file(tmp_path, ROWS)
    upload_id = staged(conn, path)
    kill_while(conn, moviedb("publish", upload_id), statement)
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)  # all or nothing
    assert conn.execute("SELECT to_regclass('movies_next')").fetchone() == (None,)
    assert run("publish", upload_id)["status"] == "completed"
    after_crash = state(conn, upload_id)

    conn.execute("TRUNCATE movies, movie_changes, upload_rejections, uploads CASCADE")
    clean_id = staged(conn, path)
    assert run("publish", clean_id)["status"] == "completed"
    clean = state(conn, clean_id)
    assert after_crash[0] == clean[0]
    assert [m[1:16] for m in after_crash[1]] == [m[1:16] for m in clean[1]]  # values, in order
    assert len(clean[1]) == ROWS


def test_a_revert_killed_midway_then_run_again_ends_like_one_clean_revert(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_bytes(big_file(tmp_path, 1000).read_bytes())
    run("ingest", str(first))
    before = conn.execute(WHOLE_CATALOGUE).fetchall()
    upload_id = run("ingest", str(big_file(tmp_path, ROWS)))["upload_id"]
    kill_while(conn, moviedb("revert", upload_id), "DELETE FROM movies")
    assert conn.execute("SELECT status FROM uploads WHERE id = %s", (upload_id,)).fetchone() == (
        "completed",
    )
    assert run("revert", upload_id)["status"] == "reverted"
    status, catalogue = state(conn, upload_id)
    assert catalogue == before  # exactly the catalogue before the upload
    assert status[0] == "reverted" and status[6:] == (ROWS - 1000, 0)  # the first 1000 unchanged
