"""`reap_stalled` on the real PostgreSQL: which stalled uploads it dispatches again, and only once."""

from __future__ import annotations

import uuid

import psycopg

from functions.core.uploads.records import upload_backlog
from functions.core.uploads.recovery import reap_stalled

LEASE = 60
REQUEUE = 300


def _upload(conn: psycopg.Connection, status: str, **columns: object) -> uuid.UUID:
    """An upload row in a given state; columns are SQL expressions (e.g. "now() - '2 min'")."""
    sets = ", ".join(f"{name} = {value}" for name, value in columns.items())
    upload_id = conn.execute(
        "INSERT INTO uploads (filename, source, status, storage_uri)"
        " VALUES ('f.csv', 'api', %s, 'file:///uploads/f.csv') RETURNING id",
        (status,),
    ).fetchone()[0]  # type: ignore[index]
    if sets:
        conn.execute(f"UPDATE uploads SET {sets} WHERE id = %s", (upload_id,))
    return upload_id


def _sweep(conn: psycopg.Connection) -> list[uuid.UUID]:
    sent: list[uuid.UUID] = []
    reap_stalled(conn, sent.append, lease_seconds=LEASE, pending_seconds=REQUEUE, resend_seconds=2)
    return sent


def test_a_processing_upload_whose_lease_expired_is_sent_again_once(
    conn: psycopg.Connection,
) -> None:
    stalled = _upload(
        conn,
        "processing",
        lease_owner="'another-host:4242:0123456789ab'",
        lease_expires_at="now() - interval '5 seconds'",
        updated_at="now() - interval '65 seconds'",
    )

    assert _sweep(conn) == [stalled]
    assert _sweep(conn) == []  # marked as sent: not again before another lease period


def test_a_live_lease_or_a_fresh_pending_upload_is_left_alone(conn: psycopg.Connection) -> None:
    _upload(
        conn,
        "processing",
        lease_owner="'another-host:4242:0123456789ab'",
        lease_expires_at="now() + interval '30 seconds'",
        updated_at="now() - interval '2 seconds'",
    )
    _upload(conn, "pending")
    _upload(conn, "completed", updated_at="now() - interval '1 day'")
    _upload(conn, "failed", updated_at="now() - interval '1 day'")

    assert _sweep(conn) == []
    assert upload_backlog(conn) == {"pending": 1, "processing": 1, "lease_expired": 0}


def test_a_pending_upload_never_picked_up_is_sent_again(conn: psycopg.Connection) -> None:
    forgotten = _upload(conn, "pending", updated_at="now() - interval '10 minutes'")

    assert _sweep(conn) == [forgotten]
    assert _sweep(conn) == []


def test_an_upload_held_by_a_dead_process_of_this_host_is_sent_at_once(
    conn: psycopg.Connection,
) -> None:
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    orphan = _upload(
        conn,
        "processing",
        lease_owner=f"'{socket.gethostname()}:{gone}:0123456789ab'",
        lease_expires_at="now() + interval '50 seconds'",  # the lease itself still runs
        updated_at="now() - interval '3 seconds'",
    )

    assert _sweep(conn) == [orphan]


def test_a_presigned_upload_waiting_for_its_file_is_not_sent(conn: psycopg.Connection) -> None:
    _upload(conn, "pending", storage_uri="NULL", updated_at="now() - interval '1 hour'")
    assert _sweep(conn) == []


def test_a_publish_whose_worker_died_or_never_came_is_dispatched_again(
    conn: psycopg.Connection,
) -> None:
    died = _upload(
        conn,
        "publishing",
        lease_owner="'another-host:4242:0123456789ab'",
        lease_expires_at="now() - interval '5 seconds'",
        updated_at="now() - interval '65 seconds'",
        received=1,
        inserted=1,
        updated=0,
        unchanged=0,
        rejected=0,
    )
    asked = _upload(  # publish requested, its dispatch lost: no worker ever claimed it
        conn,
        "publishing",
        updated_at="now() - interval '10 minutes'",
        received=1,
        inserted=1,
        updated=0,
        unchanged=0,
        rejected=0,
    )
    waiting = _upload(
        conn,
        "validated",
        updated_at="now() - interval '1 day'",
        received=1,
        inserted=1,
        updated=0,
        unchanged=0,
        rejected=0,
    )  # waits for a person
    assert set(_sweep(conn)) == {died, asked}
    assert waiting not in _sweep(conn)
