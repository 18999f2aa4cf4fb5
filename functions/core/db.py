"""Connections to PostgreSQL: the URL (configured or embedded), a lazy pool, plain connects.

Entry points own connections; core functions receive one.
"""

from __future__ import annotations

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


def connect(*, autocommit: bool = True) -> psycopg.Connection:
    """A new connection of its own (for long ingestion transactions and the CLI)."""
    return psycopg.connect(database_url(), autocommit=autocommit)


def get_pool() -> ConnectionPool:
    """The process-wide pool, created on first use and reused across Lambda invocations."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ConnectionPool(
                    database_url(),
                    min_size=1,
                    max_size=10,
                    kwargs={"autocommit": True},
                    open=True,
                    name="moviedb",
                )
    return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
