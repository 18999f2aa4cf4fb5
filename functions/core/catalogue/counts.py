"""How many movies match a listing's filters: exact (cached, and shared by every process of the
deployment), the planner's estimate, or none.

An exact count is cached in two layers, both keyed by (catalogue version, filter fingerprint):
- this process's: a TTLCache, a hit costs no query at all (about 2 µs);
- the deployment's: table `count_cache` on the primary (count_store.py), so N processes
  (`serve --workers N`, several machines, Lambda instances) count each filter set once per
  catalogue version, not N times. A hit there costs one indexed read (about 30 to 120 µs).
A publish or a revert advances the version (version.py), which makes every older entry
unreachable at once in both layers; the version is read at most once per
`version_check_seconds` per process. An entry lives `ttl` seconds (MOVIEDB_COUNT_CACHE_SECONDS)
from its count, in both layers, so a change made behind the uploads' back (direct SQL) shows
within that time.

Why PostgreSQL and not Redis: bench/count_cache.py measured both side by side (docs/benchmarks.md):
a hit and a miss-store cost the same within 10% with psycopg and redis-py, PostgreSQL is there
in every way the service runs (Redis is not on Lambda nor in the embedded local mode), the count
is stored under the version its own snapshot saw, and the lock that keeps two processes from
counting the same filter set at once is the database's.

Two processes missing at the same moment: the first takes the (version, filter set) lock
(count_store.single_flight) and counts; the others wait for its row (at most
LOCK_WAIT_SECONDS, then they count too), which matters right after a publish, when every
process misses every filter set at once. When the listing reads from a replica, the count runs
there and the cache is read and written on the primary; if the primary cannot be reached then,
the count is kept in this process only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import psycopg
from cachetools import TTLCache
from psycopg_pool import PoolTimeout

from functions.core.catalogue import count_store
from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.statements import count_plan_statement, count_statement
from functions.core.catalogue.version import CURRENT_VERSION, VersionCache
from functions.core.config import get_settings

logger = logging.getLogger(__name__)

Connect = Callable[[], AbstractContextManager[psycopg.Connection]]
# observer(layer, result): layer "process" or "shared", result "hit" or "miss" (a shared miss
# is a count run). The /metrics counter and the Lambda metrics listen (observe_count_cache).
Observer = Callable[[str, str], None]
_observers: list[Observer] = []


def observe_count_cache(observer: Observer) -> None:
    """Call `observer(layer, result)` on every lookup of every count cache of the process."""
    if observer not in _observers:
        _observers.append(observer)


def _observe(layer: str, result: str) -> None:
    for observer in _observers:
        observer(layer, result)


def _primary_pool() -> AbstractContextManager[psycopg.Connection]:
    from functions.core.db import get_pool

    return get_pool().connection()


class CountCache:
    """Exact counts per (catalogue version, filter set): this process's layer (a cachetools
    TTLCache of at most `max_entries`) in front of the shared one (count_store.py on the
    primary, reached through `primary` when the listing's connection is a replica's)."""

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int = 1024,
        version_check_seconds: float = 1.0,
        primary: Connect = _primary_pool,
    ) -> None:
        self.ttl = ttl
        # (version, filter key) -> (total, monotonic time it expires)
        self._entries: TTLCache[tuple[int, str], tuple[int, float]] = TTLCache(max_entries, ttl)
        self._lock = threading.Lock()
        self.versions = VersionCache(version_check_seconds)
        self._primary = primary
        self._purged: tuple[int, float] | None = None  # (version, when) of the last purge

    @property
    def version_check_seconds(self) -> float:
        return self.versions.check_seconds

    @version_check_seconds.setter
    def version_check_seconds(self, seconds: float) -> None:
        self.versions.check_seconds = seconds

    def version(self, conn: psycopg.Connection) -> int:
        """The catalogue's version, looked up now and then."""
        return self.versions.current(lambda: nullcontext(conn))

    def get(self, key: tuple[int, str]) -> int | None:
        """This process's entry, if it has not expired."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, key: tuple[int, str], total: int, ttl: float | None = None) -> None:
        expires = time.monotonic() + (self.ttl if ttl is None else min(ttl, self.ttl))
        with self._lock:
            self._entries[key] = (total, expires)

    def clear(self) -> None:
        """Forget this process's layer (the shared one stays)."""
        with self._lock:
            self._entries.clear()
        self.versions.forget()

    def count(self, conn: psycopg.Connection, query: MovieQuery, version: int | None = None) -> int:
        """The exact count of `query`'s filters, from the first layer that has it: for the
        catalogue version `version` (the one the page was read from), else the version as
        this process last looked."""
        if version is None:
            version = self.version(conn)
        filter_key = query.filter_key
        total = self.get((version, filter_key))
        if total is not None:
            _observe("process", "hit")
            return total
        _observe("process", "miss")
        on_replica = conn.info.parameter_status("in_hot_standby") == "on"
        if not on_replica:
            return self._shared_count(conn, conn, query, version)
        try:
            with self._primary() as primary:
                return self._shared_count(primary, conn, query, version)
        except (psycopg.OperationalError, PoolTimeout):
            logger.warning("count cache: the primary is unavailable, counted on the replica")
            counted_version, total = count_with_version(conn, query)
            self.put((counted_version, filter_key), total)
            return total

    def _shared_count(
        self,
        primary: psycopg.Connection,
        conn: psycopg.Connection,
        query: MovieQuery,
        version: int,
    ) -> int:
        filter_key = query.filter_key
        found = self._shared_hit(primary, version, filter_key)
        if found is not None:
            return found
        with count_store.single_flight(primary, version, filter_key):
            found = self._shared_hit(primary, version, filter_key)  # counted while we waited
            if found is not None:
                return found
            _observe("shared", "miss")
            counted_version, total = count_with_version(conn, query)
            count_store.store(primary, counted_version, filter_key, total, self.ttl)
        self.put((counted_version, filter_key), total)
        self._purge_now_and_then(primary, counted_version)
        return total

    def _shared_hit(self, primary: psycopg.Connection, version: int, filter_key: str) -> int | None:
        stored = count_store.lookup(primary, version, filter_key)
        if stored is None:
            return None
        _observe("shared", "hit")
        self.put((version, filter_key), stored.total, stored.expires_in)
        return stored.total

    def _purge_now_and_then(self, primary: psycopg.Connection, version: int) -> None:
        """Delete older versions' and expired rows: once per version and per `ttl`."""
        now = time.monotonic()
        if self._purged and self._purged[0] == version and now - self._purged[1] < self.ttl:
            return
        self._purged = (version, now)
        count_store.purge(primary, version)


_count_cache: CountCache | None = None


def count_cache() -> CountCache | None:
    """The process's count cache (None when `MOVIEDB_COUNT_CACHE_SECONDS` is 0)."""
    global _count_cache
    settings = get_settings()
    ttl = settings.count_cache_seconds
    if ttl <= 0:
        return None
    if _count_cache is None or _count_cache.ttl != ttl:
        _count_cache = CountCache(
            ttl=ttl, version_check_seconds=settings.catalogue_version_check_seconds
        )
    return _count_cache


def count_with_version(conn: psycopg.Connection, query: MovieQuery) -> tuple[int, int]:
    """(catalogue version, exact count) read in one statement, so from one snapshot: a count is
    never cached under a version newer than the rows it counted (a replica behind the one that
    gave the process its version, a publish between two statements)."""
    statement = count_statement(query)
    paired = f"SELECT {CURRENT_VERSION}, (".encode() + statement.query + b")"
    row = conn.execute(paired, statement.params).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def exact_count(
    conn: psycopg.Connection,
    query: MovieQuery,
    cache: CountCache | None = None,
    *,
    version: int | None = None,
) -> int:
    """The exact count, through `cache` when there is one (for the catalogue version
    `version` when the caller knows which it read)."""
    if cache is not None:
        return cache.count(conn, query, version)
    statement = count_statement(query)
    row = conn.execute(statement.query, statement.params).fetchone()
    return int(row[0]) if row else 0


def estimated_count(conn: psycopg.Connection, query: MovieQuery) -> int:
    """The planner's row estimate: no scan at all (exact only right after ANALYZE)."""
    statement = count_plan_statement(query)
    if not statement.params:
        row = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'movies'::regclass"
        ).fetchone()
        if row is not None and row[0] >= 0:
            return int(row[0])
    row = conn.execute(statement.query, statement.params).fetchone()
    plan = row[0] if row else None
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0
