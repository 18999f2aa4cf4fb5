"""The catalogue's version: a number every publish and every revert advances, in the same
transaction as the change (the one owner of table `catalogue_state`). Readers use it to know
the catalogue changed: the count cache, and a publish whose change set was computed against an
older version (it is computed again)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg

# The version as a scalar subquery: a statement that selects it beside its rows reads both from
# one snapshot (the listing's page, a count).
CURRENT_VERSION = "(SELECT version FROM catalogue_state)"


def catalogue_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT version FROM catalogue_state").fetchone()
    return int(row[0]) if row else 0


def advance_catalogue_version(conn: psycopg.Connection) -> int:
    """The next version (call it in the transaction that changes `movies`)."""
    row = conn.execute(
        "UPDATE catalogue_state SET version = version + 1 RETURNING version"
    ).fetchone()
    assert row is not None, "catalogue_state has its one row (migration 0004)"
    return int(row[0])


class VersionCache:
    """The catalogue's version as this process last read it, read again at most once per
    `check_seconds`: a reader (the count cache, the listing's ETag) costs no query in between,
    and sees a publish or a revert within `check_seconds`."""

    def __init__(self, check_seconds: float = 1.0) -> None:
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._known: tuple[float, int] | None = None

    def current(self, connection: Callable[[], AbstractContextManager[psycopg.Connection]]) -> int:
        now = time.monotonic()
        with self._lock:
            known = self._known
        if known is not None and now - known[0] < self.check_seconds:
            return known[1]
        with connection() as conn:
            version = catalogue_version(conn)
        with self._lock:
            self._known = (now, version)
        return version

    def forget(self) -> None:
        with self._lock:
            self._known = None
