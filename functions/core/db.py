"""Connections to PostgreSQL: the URL (configured or embedded), a lazy pool, plain connects.

Entry points own connections; core functions receive one.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import psycopg
from psycopg_pool import ConnectionPool

from functions.core.config import get_settings
from functions.core.embedded import start_embedded_postgres

_pool_lock = threading.Lock()
_pool: ConnectionPool | None = None


@lru_cache(maxsize=1)
def database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.data_dir)


def connect_timeout() -> int:
    """libpq's `connect_timeout` (whole seconds) for MOVIEDB_DATABASE_CONNECT_TIMEOUT."""
    return max(1, math.ceil(get_settings().database_connect_timeout))


def connect(*, autocommit: bool = True) -> psycopg.Connection:
    """A new connection of its own (for long ingestion transactions and the CLI); gives up
    after MOVIEDB_DATABASE_CONNECT_TIMEOUT when the database does not answer."""
    return psycopg.connect(database_url(), autocommit=autocommit, connect_timeout=connect_timeout())


def get_pool() -> ConnectionPool:
    """The process-wide pool, created on first use and reused across Lambda invocations.
    Waiting for a connection (the database down, or every connection busy) ends after
    MOVIEDB_DATABASE_CONNECT_TIMEOUT with PoolTimeout (503 database_unavailable)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ConnectionPool(
                    database_url(),
                    min_size=1,
                    max_size=10,
                    kwargs={"autocommit": True, "connect_timeout": connect_timeout()},
                    timeout=get_settings().database_connect_timeout,
                    open=True,
                    name="moviedb",
                )
    return _pool


def pool_in_use() -> int:
    """Connections of this process's pool lent out now (0 when it was never opened)."""
    if _pool is None:
        return 0
    stats = _pool.get_stats()
    return int(stats.get("pool_size", 0) - stats.get("pool_available", 0))


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
