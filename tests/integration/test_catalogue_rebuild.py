"""The bulk publish (functions/core/ingest/rebuild.py) on the real PostgreSQL: a publish that
inserts many movies against the catalogue's size builds the catalogue anew and swaps it in;
the result is the catalogue the row-by-row publish gives, with every index, constraint,
statistics setting and the id sequence as they were, and readers see the old or the new
catalogue whole, never a part."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api_support import api_env, client, csv_bytes, reset_caches, row  # noqa: F401
from tests.integration.test_staged_uploads import KEY, catalogue, counts, upload
from tests.movie_files import wait_for


@pytest.fixture
def rebuilding(api_env, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    """Rebuild whenever a publish inserts at least as many movies as the catalogue holds."""
    monkeypatch.setenv("MOVIEDB_REBUILD_MIN_ROWS", "0")
    monkeypatch.setenv("MOVIEDB_REBUILD_SHARE", "1.0")
    reset_caches()
    yield
    reset_caches()


def _table_oid(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT 'movies'::regclass::oid").fetchone()[0]  # type: ignore[index]


def _structure(database_url: str) -> dict[str, Any]:
    """What the catalogue's table is made of, by name: indexes, constraints, statistics
    targets, the identity sequence."""
    with psycopg.connect(database_url) as conn:
        return {
            "indexes": conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'movies'"
                " ORDER BY indexname"
            ).fetchall(),
            "constraints": conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'movies'::regclass ORDER BY conname"
            ).fetchall(),
            "statistics": conn.execute(
                "SELECT attname, attstattarget FROM pg_attribute"
                " WHERE attrelid = 'movies'::regclass AND attnum > 0 ORDER BY attnum"
            ).fetchall(),
            "sequence": conn.execute("SELECT pg_get_serial_sequence('movies', 'id')").fetchone(),
        }


def _titles(n: int, prefix: str) -> bytes:
    return csv_bytes(*(row(f"{prefix} {i:03d}") for i in range(n)))


def test_a_large_publish_into_a_small_catalogue_rebuilds_it_whole(
    client: TestClient,  # noqa: F811
    database_url: str,
    rebuilding: None,
) -> None:
    before = _structure(database_url)
    oid = _table_oid(database_url)
    first = upload(client, _titles(30, "First"), review=False)
    assert counts(first) == [30, 30, 0, 0, 0]
    assert _table_oid(database_url) != oid, "the catalogue was built anew"
    assert _structure(database_url) == before
    rows = catalogue(database_url)
    assert [r[0] for r in rows] == list(range(1, 31))
    assert {str(r[-1]) for r in rows} == {first["upload_id"]}
    with psycopg.connect(database_url) as conn:
        analysed = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'movies'::regclass"
        ).fetchone()
    assert analysed == (30,)

    # the same ids go on: a second rebuild continues the sequence, and an update keeps its id
    changed = row("First 000").replace("About First 000", "Rewritten")
    content = csv_bytes(changed, *(row(f"Second {i:02d}") for i in range(40)))
    second = upload(client, content, review=False)
    assert counts(second) == [41, 40, 1, 0, 0]
    rows = catalogue(database_url)
    assert [r[0] for r in rows] == list(range(1, 71))
    assert rows[0][4] == "Rewritten"
    assert _structure(database_url) == before


def test_a_small_publish_into_a_larger_catalogue_maintains_it_in_place(
    client: TestClient,  # noqa: F811
    database_url: str,
    rebuilding: None,
) -> None:
    upload(client, _titles(30, "First"), review=False)
    oid = _table_oid(database_url)
    small = upload(client, _titles(5, "Small"), review=False)
    assert counts(small) == [5, 5, 0, 0, 0]
    assert _table_oid(database_url) == oid


def test_the_rebuild_gives_the_catalogue_the_row_by_row_publish_gives_and_reverts_alike(
    client: TestClient,  # noqa: F811
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = [
        _titles(20, "Base"),
        csv_bytes(row("Base 003").replace("About", "Changed"), row("New"), row("Newer")),
    ]
    results = {}
    for share in ("1000", "0.01"):  # never rebuild, then always
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE movies, movie_changes, uploads RESTART IDENTITY CASCADE")
        monkeypatch.setenv("MOVIEDB_REBUILD_MIN_ROWS", "0")
        monkeypatch.setenv("MOVIEDB_REBUILD_SHARE", share)
        reset_caches()
        done = [upload(client, content, review=False) for content in files]
        published = [r[:-1] for r in catalogue(database_url)]  # without the upload ids
        reverted = client.post(f"{done[1]['status_url']}/revert", headers=KEY)
        assert reverted.json()["reverted"] == {"removed": 2, "restored": 1}, reverted.text
        results[share] = (published, [r[:-1] for r in catalogue(database_url)])
    assert results["1000"] == results["0.01"]
    assert len(results["1000"][0]) == 22 and len(results["1000"][1]) == 20


def test_readers_see_the_old_catalogue_or_the_new_one_whole_never_a_part(
    client: TestClient,  # noqa: F811
    database_url: str,
    rebuilding: None,
) -> None:
    upload(client, _titles(10, "Old"), review=False)
    seen: set[int] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.add(conn.execute("SELECT count(*) FROM movies").fetchone()[0])  # type: ignore[index]
                except psycopg.Error as error:  # a reader must never fail
                    errors.append(error)
                    return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        done = upload(client, _titles(400, "New"), review=False)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert counts(done)[1] == 400
    assert not errors
    assert seen <= {10, 410} and 410 in seen


def test_readers_go_on_while_the_swap_waits_for_another_upload_holding_the_catalogue(
    client: TestClient,  # noqa: F811
    database_url: str,
    rebuilding: None,
) -> None:
    """An upload validating beside the publish holds `movies` while it computes its change set;
    the swap waits for it, and readers arriving meanwhile are not queued behind the swap."""
    upload(client, _titles(10, "Old"), review=False)
    held = threading.Event()
    errors: list[BaseException] = []
    reads: list[int] = []

    def hold_then_read() -> None:
        with psycopg.connect(database_url) as holder:  # a transaction, as a validation's
            holder.execute("SELECT count(*) FROM movies")  # ACCESS SHARE until its end
            held.set()
            with psycopg.connect(database_url, autocommit=True) as other:
                swap_waits = (
                    "SELECT 1 FROM pg_stat_activity"
                    " WHERE query LIKE 'LOCK TABLE movies IN ACCESS EXCLUSIVE MODE%'"
                )
                wait_for(
                    "the swap to ask for its lock", lambda: other.execute(swap_waits).fetchone()
                )
                other.execute("SET statement_timeout = '5s'")  # a queued reader would time out
                try:
                    for _ in range(10):
                        reads.append(other.execute("SELECT count(*) FROM movies").fetchone()[0])  # type: ignore[index]
                except psycopg.Error as error:
                    errors.append(error)
            holder.rollback()  # the validation ends: the swap goes on

    side = threading.Thread(target=hold_then_read)
    side.start()
    held.wait(30)
    try:
        done = upload(client, _titles(400, "New"), review=False)
    finally:
        side.join()
    assert not errors
    assert reads == [10] * 10  # the old catalogue, whole, while the swap waited
    assert counts(done)[1] == 400
