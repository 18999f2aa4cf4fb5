"""The shared layer of the count cache: table `count_cache` (migration 0008, UNLOGGED), the one
owner of its SQL. One row per (catalogue version, filter fingerprint), on the primary.

`single_flight` makes one process count a filter set while the others that missed at the same
moment wait for its row: a transaction-level advisory lock per (version, filter), in the
two-key space (the publish lock uses the one-key space: they never meet). A waiter gives up
after LOCK_WAIT_SECONDS and counts itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

# The advisory lock's first key: "coun" in ASCII, so the count locks are told apart in pg_locks.
LOCK_NAMESPACE = 0x636F756E
LOCK_WAIT_SECONDS = 5.0

_LOOKUP = (
    b"SELECT total, extract(epoch FROM expires_at - now())::float8 FROM count_cache"
    b" WHERE catalogue_version = %s AND filter_key = %s AND expires_at > now()"
)
_STORE = (
    b"INSERT INTO count_cache (catalogue_version, filter_key, total, expires_at)"
    b" VALUES (%s, %s, %s, now() + make_interval(secs => %s))"
    b" ON CONFLICT (catalogue_version, filter_key)"
    b" DO UPDATE SET total = EXCLUDED.total, expires_at = EXCLUDED.expires_at"
)
_PURGE = b"DELETE FROM count_cache WHERE catalogue_version < %s OR expires_at <= now()"
_LOCK_KEY = b"hashtext(%s::bigint::text || ':' || %s)"
_TRY_LOCK = b"SELECT pg_try_advisory_xact_lock(%s, " + _LOCK_KEY + b")"
_LOCK = b"SELECT pg_advisory_xact_lock(%s, " + _LOCK_KEY + b")"


@dataclass(frozen=True)
class StoredCount:
    total: int
    expires_in: float  # seconds left


def lookup(conn: psycopg.Connection, version: int, filter_key: str) -> StoredCount | None:
    """The count stored for this version and filter set, unless it expired."""
    row = conn.execute(_LOOKUP, (version, filter_key)).fetchone()
    return StoredCount(int(row[0]), float(row[1])) if row else None


def store(conn: psycopg.Connection, version: int, filter_key: str, total: int, ttl: float) -> None:
    conn.execute(_STORE, (version, filter_key, total, ttl))


def purge(conn: psycopg.Connection, version: int) -> int:
    """Delete the rows of older versions and the expired ones; how many went."""
    return conn.execute(_PURGE, (version,)).rowcount


@contextmanager
def single_flight(
    conn: psycopg.Connection, version: int, filter_key: str, wait: float | None = None
) -> Iterator[bool]:
    """A transaction holding the count lock of (version, filter set) while the block runs:
    True when it was taken, False when another holder kept it longer than `wait` seconds
    (LOCK_WAIT_SECONDS by default; the block then runs without it). The lock goes with the
    transaction's end."""
    key = (LOCK_NAMESPACE, version, filter_key)
    with conn.transaction():
        row = conn.execute(_TRY_LOCK, key).fetchone()
        held = bool(row and row[0])
        if not held:
            held = _wait_for_lock(conn, key, LOCK_WAIT_SECONDS if wait is None else wait)
        yield held


def _wait_for_lock(conn: psycopg.Connection, key: tuple[int, int, str], wait: float) -> bool:
    try:
        with conn.transaction():  # a savepoint: a timed-out wait leaves the transaction usable
            conn.execute(f"SET LOCAL lock_timeout = '{max(1, int(wait * 1000))}ms'".encode())
            conn.execute(_LOCK, key)
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        conn.execute(b"SET LOCAL lock_timeout TO DEFAULT")
    return True
