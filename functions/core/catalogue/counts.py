"""How many movies match a listing's filters: exact (cached per filter set, dropped when the
catalogue changes), the planner's estimate, or none."""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from typing import Any

import psycopg
from cachetools import TTLCache

from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.statements import count_plan_statement, count_statement
from functions.core.catalogue.version import VersionCache
from functions.core.config import get_settings


class CountCache:
    """Exact counts per (filter set, catalogue version), each kept for `ttl` seconds (a
    cachetools TTLCache, at most `max_entries`).

    The catalogue's version (when an upload last completed) is itself looked up at most once
    per `version_check_seconds`, so a cached count costs no query at all, and a completed upload
    makes every older count unreachable within that time.
    """

    def __init__(
        self, *, ttl: float, max_entries: int = 1024, version_check_seconds: float = 1.0
    ) -> None:
        self.ttl = ttl
        self._entries: TTLCache[tuple[str, Any], int] = TTLCache(max_entries, ttl)
        self._lock = threading.Lock()
        self.versions = VersionCache(version_check_seconds)

    @property
    def version_check_seconds(self) -> float:
        return self.versions.check_seconds

    @version_check_seconds.setter
    def version_check_seconds(self, seconds: float) -> None:
        self.versions.check_seconds = seconds

    def version(self, conn: psycopg.Connection) -> Any:
        """The catalogue's version, looked up now and then."""
        return self.versions.current(lambda: nullcontext(conn))

    def get(self, key: tuple[str, Any]) -> int | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[str, Any], value: int) -> None:
        with self._lock:
            self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
        self.versions.forget()


_count_cache: CountCache | None = None


def count_cache() -> CountCache | None:
    """The process's count cache (None when `MOVIEDB_COUNT_CACHE_SECONDS` is 0)."""
    global _count_cache
    ttl = get_settings().count_cache_seconds
    if ttl <= 0:
        return None
    if _count_cache is None or _count_cache.ttl != ttl:
        _count_cache = CountCache(ttl=ttl)
    return _count_cache


def exact_count(
    conn: psycopg.Connection, query: MovieQuery, cache: CountCache | None = None
) -> int:
    key: tuple[str, Any] | None = None
    if cache is not None:
        key = (query.filter_key, cache.version(conn))
        cached = cache.get(key)
        if cached is not None:
            return cached
    statement = count_statement(query)
    row = conn.execute(statement.query, statement.params).fetchone()
    total = int(row[0]) if row else 0
    if cache is not None and key is not None:
        cache.put(key, total)
    return total


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
