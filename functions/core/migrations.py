"""Schema migrations: the SQL files in infra/migrations, applied by yoyo-migrations."""

from __future__ import annotations

import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "migrations"


def _yoyo_url(database_url: str) -> str:
    """yoyo selects psycopg 3 by the `postgresql+psycopg` scheme."""
    scheme, _, rest = database_url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def _backend_and_migrations(database_url: str):
    backend = get_backend(_yoyo_url(database_url), migration_table="_yoyo_migration")
    return backend, read_migrations(str(MIGRATIONS_DIR))


def pending_migrations(database_url: str) -> list[str]:
    backend, migrations = _backend_and_migrations(database_url)
    return [m.id for m in backend.to_apply(migrations)]


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration; return the ids applied (empty when current)."""
    backend, migrations = _backend_and_migrations(database_url)
    with backend.lock():
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    applied = [m.id for m in todo]
    if applied:
        logger.info("migrations applied", extra={"migrations": applied})
    return applied
