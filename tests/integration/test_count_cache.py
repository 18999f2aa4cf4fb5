"""The shared count cache on a real PostgreSQL (functions/core/catalogue/counts.py and
count_store.py). Each `CountCache` here stands for one process: its own per-process layer, its
own connection, the one `count_cache` table between them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from functions.core.catalogue import count_store
from functions.core.catalogue.counts import (
    CountCache,
    _observers,
    count_with_version,
    exact_count,
    observe_count_cache,
)
from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.version import advance_catalogue_version, catalogue_version

QUERY = MovieQuery(language="fr")


@pytest.fixture
def catalogue(clean_db: str) -> Iterator[str]:
    """Five French movies and three English ones."""
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for n in range(8):
            add_movie(conn, f"movie {n}", "fr" if n < 5 else "en")
    yield clean_db


@pytest.fixture
def lookups() -> Iterator[Counter[tuple[str, str]]]:
    """Every (layer, result) the count caches report while the test runs."""
    seen: Counter[tuple[str, str]] = Counter()

    def record(layer: str, result: str) -> None:
        seen[(layer, result)] += 1

    observe_count_cache(record)
    yield seen
    _observers.remove(record)


def add_movie(conn: psycopg.Connection, title: str, language: str = "fr") -> None:
    conn.execute("INSERT INTO movies (title, original_language) VALUES (%s, %s)", (title, language))


def process(ttl: float = 300) -> CountCache:
    """One process's cache, reading the catalogue version at every count."""
    return CountCache(ttl=ttl, version_check_seconds=0)


def stored_rows(conn: psycopg.Connection) -> list[tuple[int, str, int]]:
    return conn.execute(
        "SELECT catalogue_version, filter_key, total FROM count_cache ORDER BY 1, 2"
    ).fetchall()


def test_the_second_process_reads_the_count_the_first_one_made(
    catalogue: str, lookups: Counter[tuple[str, str]]
) -> None:
    with (
        psycopg.connect(catalogue, autocommit=True) as a,
        psycopg.connect(catalogue, autocommit=True) as b,
    ):
        assert exact_count(a, QUERY, process()) == 5
        version = catalogue_version(a)
        assert stored_rows(a) == [(version, QUERY.filter_key, 5)]
        assert lookups == {("process", "miss"): 1, ("shared", "miss"): 1}
        # Behind the cache's back: only a shared entry can give the second process this total.
        a.execute("UPDATE count_cache SET total = 4242")
        assert exact_count(b, QUERY, process()) == 4242
        assert lookups[("shared", "hit")] == 1
        assert lookups[("shared", "miss")] == 1  # counted once, for both


def test_the_per_process_layer_answers_without_a_query(
    catalogue: str, lookups: Counter[tuple[str, str]]
) -> None:
    cache = CountCache(ttl=300, version_check_seconds=3600)
    with psycopg.connect(catalogue, autocommit=True) as conn:
        assert exact_count(conn, QUERY, cache) == 5
        conn.execute("DELETE FROM count_cache")
        assert exact_count(conn, QUERY, cache) == 5
    assert lookups == {("process", "miss"): 1, ("shared", "miss"): 1, ("process", "hit"): 1}


def test_a_version_advance_makes_older_counts_unreachable_for_every_process(
    catalogue: str, lookups: Counter[tuple[str, str]]
) -> None:
    first, second = process(), process()
    with psycopg.connect(catalogue, autocommit=True) as conn:
        assert exact_count(conn, QUERY, first) == 5
        assert exact_count(conn, QUERY, second) == 5  # a shared hit
        add_movie(conn, "a sixth")
        assert exact_count(conn, QUERY, first) == 5  # cached: nothing published
        new = advance_catalogue_version(conn)  # what every publish and revert does
        assert exact_count(conn, QUERY, first) == 6
        assert exact_count(conn, QUERY, second) == 6
        # the old version's entry was deleted when the new one was stored
        assert stored_rows(conn) == [(new, QUERY.filter_key, 6)]
    assert lookups[("shared", "miss")] == 2  # once per version, for both processes


def test_an_entry_expires_after_the_ttl_in_both_layers(catalogue: str) -> None:
    cache = process(ttl=0.5)
    with psycopg.connect(catalogue, autocommit=True) as conn:
        assert exact_count(conn, QUERY, cache) == 5
        add_movie(conn, "behind the uploads' back")  # no version advance
        assert exact_count(conn, QUERY, cache) == 5
        time.sleep(0.6)
        assert exact_count(conn, QUERY, cache) == 6
        assert exact_count(conn, QUERY, process(ttl=0.5)) == 6


def test_expired_rows_are_purged_with_the_older_versions(catalogue: str) -> None:
    with psycopg.connect(catalogue, autocommit=True) as conn:
        version = catalogue_version(conn)
        count_store.store(conn, version - 1, "older version", 1, 300)
        count_store.store(conn, version, "expired", 2, 0)
        count_store.store(conn, version, "current", 3, 300)
        assert count_store.purge(conn, version) == 2
        assert stored_rows(conn) == [(version, "current", 3)]


def test_the_count_and_its_version_come_from_one_snapshot(catalogue: str) -> None:
    with psycopg.connect(catalogue, autocommit=True) as conn:
        before = catalogue_version(conn)
        assert count_with_version(conn, QUERY) == (before, 5)
        with psycopg.connect(catalogue) as publisher:  # a publish not committed yet
            add_movie(publisher, "being published")
            advance_catalogue_version(publisher)
            assert count_with_version(conn, QUERY) == (before, 5)
        # committed: both at once
        assert count_with_version(conn, QUERY) == (before + 1, 6)


def test_processes_missing_at_the_same_moment_wait_for_the_one_counting(
    catalogue: str, lookups: Counter[tuple[str, str]]
) -> None:
    """The lock is held as the first process holds it while it counts; the two others wait for
    its row instead of counting too."""
    answers: list[int] = []

    def ask() -> None:
        with psycopg.connect(catalogue, autocommit=True) as conn:
            answers.append(exact_count(conn, QUERY, process()))

    with psycopg.connect(catalogue, autocommit=True) as first:
        version = catalogue_version(first)
        with count_store.single_flight(first, version, QUERY.filter_key) as held:
            assert held
            waiting = [threading.Thread(target=ask) for _ in range(2)]
            for thread in waiting:
                thread.start()
            time.sleep(0.5)
            assert all(thread.is_alive() for thread in waiting)  # waiting for the lock
            count_store.store(first, version, QUERY.filter_key, 4242, 300)  # "the count"
        for thread in waiting:
            thread.join(timeout=10)
    assert answers == [4242, 4242]
    assert lookups[("shared", "miss")] == 0
    assert lookups[("shared", "hit")] == 2


def test_a_waiter_counts_itself_when_the_lock_is_held_too_long(
    catalogue: str, lookups: Counter[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(count_store, "LOCK_WAIT_SECONDS", 0.2)
    with psycopg.connect(catalogue, autocommit=True) as first:
        version = catalogue_version(first)
        with (
            count_store.single_flight(first, version, QUERY.filter_key),
            psycopg.connect(catalogue, autocommit=True) as conn,
        ):
            started = time.monotonic()
            assert exact_count(conn, QUERY, process()) == 5
            assert 0.2 <= time.monotonic() - started < 5
            # and its connection is usable still: the lock timeout was for the wait only
            assert conn.execute("SHOW lock_timeout").fetchone() == ("0",)
    assert lookups[("shared", "miss")] == 1
