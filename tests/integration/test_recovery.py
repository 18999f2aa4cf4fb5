"""Stalled uploads are taken up again by the reaper of `moviedb serve`: at start, the ones a
stopped server left pending or processing; while it runs, one whose worker stopped renewing its
lease (functions/core/uploads/recovery.py)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from functions.core.config import get_settings
from functions.core.ingest.dispatch import in_process, shutdown_in_process
from functions.core.ingest.intake import accept_upload
from functions.core.ingest.upkeep import reap_once, start_reaper
from tests.api_support import api_env, csv_bytes, row

__all__ = ["api_env"]


def accept(content: bytes) -> str:
    acceptance = accept_upload([content], filename="m.csv")
    return str(acceptance.upload.id)


def statuses(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        return {str(i): s for i, s in conn.execute("SELECT id, status FROM uploads")}


def wait_for(database_url: str, expected: dict[str, str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while (found := statuses(database_url)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_pending_and_abandoned_uploads_are_finished_at_start(
    api_env: Path, database_url: str
) -> None:
    pending = accept(csv_bytes(row("Alpha")))  # accepted, server stopped before processing
    abandoned = accept(csv_bytes(row("Beta")))  # its worker died mid-way, lease long expired
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE uploads SET status = 'processing', attempts = 1, lease_owner = 'gone:1:x',"
            " lease_expires_at = now() - interval '1 minute',"
            " updated_at = now() - interval '2 minutes' WHERE id = %s",
            (abandoned,),
        )
    reaper = start_reaper(in_process, at_start=True)
    try:
        done = wait_for(database_url, {pending: "completed", abandoned: "completed"})
    finally:
        reaper.stop()
        shutdown_in_process(wait=True)
    assert done == {pending: "completed", abandoned: "completed"}
    with psycopg.connect(database_url) as conn:
        titles = {t for (t,) in conn.execute("SELECT title FROM movies")}
    assert titles == {"Alpha", "Beta"}


def test_an_upload_under_a_live_lease_is_left_until_the_lease_expires(
    api_env: Path, database_url: str
) -> None:
    held = accept(csv_bytes(row("Gamma")))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE uploads SET status = 'processing', lease_owner = 'other-host:1:x',"
            " lease_expires_at = now() + interval '1 hour' WHERE id = %s",
            (held,),
        )
        assert reap_once(in_process, pending_seconds=0) == []  # its worker may be alive
        conn.execute(  # the other worker never came back: its lease ran out long ago
            "UPDATE uploads SET lease_expires_at = now() - interval '1 minute',"
            " updated_at = now() - interval '2 minutes' WHERE id = %s",
            (held,),
        )
    taken = reap_once(in_process)
    assert [str(s.upload_id) for s in taken] == [held]
    assert taken[0].reason == "lease expired"
    assert wait_for(database_url, {held: "completed"}) == {held: "completed"}
    shutdown_in_process(wait=True)


def test_a_running_server_takes_up_an_upload_stranded_while_it_runs(
    api_env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restart during an ingestion leaves it `processing` under a lease nobody
    renews: the reaper of the running process takes it up, no restart needed."""
    monkeypatch.setenv("MOVIEDB_UPLOAD_SWEEP_SECONDS", "0.2")
    monkeypatch.setenv("MOVIEDB_UPLOAD_LEASE_SECONDS", "1")
    get_settings.cache_clear()
    reaper = start_reaper(in_process, at_start=True)
    try:
        stranded = accept(csv_bytes(row("Delta")))
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(  # as its ingestion's connection died: claimed, then nothing more
                "UPDATE uploads SET status = 'processing', attempts = 1,"
                " lease_owner = 'this-host-before:1:x', lease_expires_at = now(),"
                " updated_at = now() WHERE id = %s",
                (stranded,),
            )
        done = wait_for(database_url, {stranded: "completed"})
    finally:
        reaper.stop()
        shutdown_in_process(wait=True)
    assert done == {stranded: "completed"}


def test_nothing_to_take_up_is_fine(api_env: Path) -> None:
    assert reap_once(in_process, pending_seconds=0) == []
