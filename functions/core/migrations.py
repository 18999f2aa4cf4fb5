"""Schema migrations: the SQL files in infra/migrations, applied by yoyo-migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "infra" / "migrations"


def _yoyo_url(database_url: str) -> str:
    """yoyo takes a URL and selects psycopg 3 by the `postgresql+psycopg` scheme; a libpq
    key=value string is turned into such a URL."""
    if "://" not in database_url:
        params = conninfo_to_dict(database_url)
        user = quote(str(params.pop("user", "")), safe="")
        password = params.pop("password", None)
        host = str(params.pop("host", ""))
        port = params.pop("port", None)
        dbname = quote(str(params.pop("dbname", "")), safe="")
        auth = (
            f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
        )
        netloc = "" if host.startswith("/") else host + (f":{port}" if port else "")
        if host.startswith("/"):
            params["host"] = host
            if port:
                params["port"] = port
        query = f"?{urlencode(params)}" if params else ""
        return f"postgresql+psycopg://{auth}{netloc}/{dbname}{query}"
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
