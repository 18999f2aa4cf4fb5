"""Uploads a stopped server left pending or processing are taken up again at the next start."""

from __future__ import annotations

from pathlib import Path

import psycopg

from functions.core.intake import accept_upload
from functions.core.recovery import resume_unfinished
from tests.api_support import api_env, csv_bytes, row

__all__ = ["api_env"]


def accept(content: bytes) -> str:
    acceptance = accept_upload([content], filename="m.csv", content_type="text/csv")
    return str(acceptance.upload.id)


def statuses(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        return {str(i): s for i, s in conn.execute("SELECT id, status FROM uploads")}


def test_pending_and_abandoned_uploads_are_finished_at_start(
    api_env: Path, database_url: str
) -> None:
    pending = accept(csv_bytes(row("Alpha")))  # accepted, server stopped before processing
    abandoned = accept(csv_bytes(row("Beta")))  # its worker died mid-way, lease long expired
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE uploads SET status = 'processing', attempts = 1, lease_owner = 'gone:1',"
            " lease_expires_at = now() - interval '1 minute' WHERE id = %s",
            (abandoned,),
        )
    done = resume_unfinished()
    assert {str(u.id) for u in done} == {pending, abandoned}
    assert statuses(database_url) == {pending: "completed", abandoned: "completed"}
    with psycopg.connect(database_url) as conn:
        titles = {t for (t,) in conn.execute("SELECT title FROM movies")}
    assert titles == {"Alpha", "Beta"}


def test_an_upload_under_a_live_lease_is_waited_for_then_taken_over(
    api_env: Path, database_url: str
) -> None:
    held = accept(csv_bytes(row("Gamma")))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE uploads SET status = 'processing', lease_owner = 'other-host:1',"
            " lease_expires_at = now() + interval '1 hour' WHERE id = %s",
            (held,),
        )
        waits: list[float] = []

        def time_passes(seconds: float) -> None:  # the other worker never comes back
            waits.append(seconds)
            conn.execute(
                "UPDATE uploads SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                (held,),
            )

        done = resume_unfinished(sleep=time_passes)
    assert len(waits) == 1 and waits[0] > 3000  # it waited for the lease, not less
    assert [str(u.id) for u in done] == [held]
    assert statuses(database_url) == {held: "completed"}


def test_nothing_to_resume_is_fine(api_env: Path) -> None:
    assert resume_unfinished() == []
