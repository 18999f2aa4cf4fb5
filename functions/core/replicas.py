"""Reads that tolerate a little lag go to PostgreSQL's streaming replicas.

`DATABASE_READ_URL` (`MOVIEDB_DATABASE_READ_URL`) names one replica or several, comma-separated.
`read_connection()` lends a connection of a replica that answers and lags at most
`MOVIEDB_REPLICA_MAX_LAG_SECONDS`, taking the replicas in turn; with none configured, none up
or all too far behind, the primary's pool serves. Each replica's health (in recovery, its lag)
is looked at again at most every `MOVIEDB_REPLICA_CHECK_SECONDS` per process.

Who reads where: the movie listing and one movie, the uploads list and the catalogue version
of the HTTP cache read here; writes, an upload's own status (read right after a write) and
anything that must see its own writes use the primary (`functions/core/db.py`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from functions.core.config import get_settings
from functions.core.db import get_pool

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2  # seconds: a replica that takes longer is skipped for this round

# The replica's lag: none when it has replayed all it received, else the age of what it last
# replayed (an idle primary sends nothing, so a quiet replica is not "behind").
_LAG = """
    SELECT pg_is_in_recovery(),
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
           END::float8
"""


@dataclass
class Replica:
    url: str
    pool: ConnectionPool | None = None
    checked_at: float = -1e9
    usable: bool = False
    lag: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReadRouter:
    def __init__(self, urls: list[str], *, max_lag: float, check_seconds: float) -> None:
        self.replicas = [Replica(url) for url in urls]
        self.max_lag = max_lag
        self.check_seconds = check_seconds
        self._turn = 0

    def _check(self, replica: Replica) -> bool:
        now = time.monotonic()
        with replica.lock:
            if now - replica.checked_at < self.check_seconds:
                return replica.usable
            replica.checked_at = now
            try:
                with psycopg.connect(replica.url, connect_timeout=CONNECT_TIMEOUT) as conn:
                    row = conn.execute(_LAG).fetchone()
                in_recovery, lag = row if row else (False, None)
                replica.lag = lag
                replica.usable = bool(in_recovery) and lag is not None and lag <= self.max_lag
                if not replica.usable:
                    logger.warning(
                        "replica skipped", extra={"lag": lag, "in_recovery": in_recovery}
                    )
            except psycopg.Error:
                replica.usable = False
                logger.warning("replica unreachable, reads go elsewhere")
            return replica.usable

    def _pool(self, replica: Replica) -> ConnectionPool:
        with replica.lock:
            if replica.pool is None:
                replica.pool = ConnectionPool(
                    replica.url,
                    min_size=1,
                    max_size=10,
                    kwargs={"autocommit": True},
                    open=True,
                    name="moviedb-replica",
                )
            return replica.pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        count = len(self.replicas)
        start, self._turn = self._turn, self._turn + 1
        for i in range(count):
            replica = self.replicas[(start + i) % count]
            if not self._check(replica):
                continue
            stack = ExitStack()
            try:
                conn = stack.enter_context(self._pool(replica).connection(timeout=CONNECT_TIMEOUT))
            except (PoolTimeout, psycopg.OperationalError):
                replica.usable = False  # went down since its check: the next one, or the primary
                stack.close()
                continue
            with stack:
                yield conn
            return
        with get_pool().connection() as conn:
            yield conn

    def close(self) -> None:
        for replica in self.replicas:
            if replica.pool is not None:
                replica.pool.close()
                replica.pool = None


@lru_cache(maxsize=1)
def read_router() -> ReadRouter:
    settings = get_settings()
    urls = [u.strip() for u in (settings.database_read_url or "").split(",") if u.strip()]
    return ReadRouter(
        urls, max_lag=settings.replica_max_lag_seconds, check_seconds=settings.replica_check_seconds
    )


@contextmanager
def read_connection() -> Iterator[psycopg.Connection]:
    """A connection for a read that tolerates a little lag (see the module's docstring)."""
    with read_router().connection() as conn:
        yield conn


def reset_read_router() -> None:
    """Forget the replicas (tests that change the settings)."""
    if read_router.cache_info().currsize:
        read_router().close()
    read_router.cache_clear()
