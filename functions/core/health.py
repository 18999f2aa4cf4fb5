"""Is the service able to work: the database reachable and its schema current."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from functions.core.db import database_url
from functions.core.errors import MovieDbError
from functions.core.schema import pending_migrations

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3


@dataclass
class Health:
    database: str  # "ok" | "unreachable"
    pending_migrations: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.database == "ok" and not self.pending_migrations


@dataclass
class ServiceUnhealthy(MovieDbError):
    health: Health

    def __str__(self) -> str:
        if self.health.database != "ok":
            return f"the database is unreachable: {self.health.reason}"
        return "database migrations are pending: " + ", ".join(self.health.pending_migrations)


def check_health() -> Health:
    """The service's health; raises ServiceUnhealthy when it cannot do its work."""
    try:
        url = database_url()
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
        pending = pending_migrations(url)
    except (psycopg.Error, OSError) as e:
        logger.warning("health check: database unreachable", extra={"error": str(e)})
        # The server's message names hosts and users: it goes to the log, not to the caller.
        health = Health(database="unreachable", reason=type(e).__name__)
        raise ServiceUnhealthy(health) from e
    health = Health(database="ok", pending_migrations=pending)
    if not health.ok:
        raise ServiceUnhealthy(health)
    return health
