"""The rounds of upkeep a long-running process (or the scheduled `reap` function) runs: stalled
uploads handed on again (`reap_stalled`, functions/core/uploads/recovery.py), and the tidying
of what nobody needs any more: staging tables of uploads that will not publish, change history
past its retention, stored files no upload references."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from functions.core.config import get_settings
from functions.core.db import connect
from functions.core.ingest import publish, staging
from functions.core.periodic import Periodic
from functions.core.storage import remove_unreferenced_files
from functions.core.uploads.records import referenced_file_names
from functions.core.uploads.recovery import Dispatch, Stalled, reap_stalled


def tidy_up(
    conn: psycopg.Connection, *, history_days: float, orphan_file_grace_seconds: float = 600.0
) -> None:
    """What recovery also clears: the staging tables of uploads that will not use them any
    more (failed, cancelled), change history past its retention, and stored files no upload
    references, untouched for `orphan_file_grace_seconds` (a body cut off by a kill)."""
    staging.drop_orphans(conn)
    publish.prune_history(conn, older_than=timedelta(days=history_days))
    remove_unreferenced_files(
        lambda names: referenced_file_names(conn, names), grace_seconds=orphan_file_grace_seconds
    )


def reap_once(dispatch: Dispatch, *, pending_seconds: float | None = None) -> list[Stalled]:
    """One round of `reap_stalled` on a connection of its own, with the configured leases
    (`pending_seconds`: how long a pending upload waits before it counts as lost; default
    MOVIEDB_UPLOAD_REQUEUE_SECONDS)."""
    settings = get_settings()
    with connect() as conn:
        tidy_up(
            conn,
            history_days=settings.history_days,
            orphan_file_grace_seconds=settings.orphan_file_grace_seconds,
        )
        return reap_stalled(
            conn,
            dispatch,
            lease_seconds=settings.upload_lease_seconds,
            pending_seconds=(
                settings.upload_requeue_seconds if pending_seconds is None else pending_seconds
            ),
            resend_seconds=2 * settings.upload_sweep_seconds,
        )


def start_reaper(dispatch: Dispatch, *, at_start: bool = False) -> Periodic:
    """A started thread that dispatches stalled uploads every MOVIEDB_UPLOAD_SWEEP_SECONDS.
    `at_start`: a first round at once that takes every pending upload (the process that
    accepted them, this one's predecessor, is gone)."""
    first = [at_start]

    def round_() -> list[Stalled]:
        pending_seconds = 0.0 if first[0] else None
        first[0] = False
        return reap_once(dispatch, pending_seconds=pending_seconds)

    return Periodic(
        "reaper", round_, get_settings().upload_sweep_seconds, at_start=at_start
    ).start()
