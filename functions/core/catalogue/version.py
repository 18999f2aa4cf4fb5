"""The catalogue's version: a number every publish and every revert advances, in the same
transaction as the change (the one owner of table `catalogue_state`). Readers use it to know
the catalogue changed: the count cache, and a publish whose change set was computed against an
older version (it is computed again)."""

from __future__ import annotations

import psycopg


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
