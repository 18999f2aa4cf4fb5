"""The database schema: the SQL migrations shipped in this package (`migrations/*.sql`, package
data), applied by yoyo-migrations. Every runtime (the CLI, `moviedb serve`, the worker, the
`migrate` Lambda) reads them from the installed package, never from a source tree."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from functions.core.errors import MovieDbError

logger = logging.getLogger(__name__)


@dataclass
class NoMigrationsFound(MovieDbError):
    """The package carries no migration: an installation that lost its package data. Refusing
    to start beats reporting an empty database as current."""

    location: str

    def __str__(self) -> str:
        return f"no schema migration found in {self.location}: the installation is incomplete"


def migrations_dir() -> Path:
    """The folder of the packaged SQL migrations (a real folder: the package is installed
    unzipped everywhere it runs, the Lambda artifact included)."""
    return Path(str(resources.files(__name__) / "migrations"))


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
    folder = migrations_dir()
    migrations = read_migrations(str(folder))
    if not len(migrations):
        raise NoMigrationsFound(str(folder))
    return backend, migrations


def pending_migrations(database_url: str) -> list[str]:
    backend, migrations = _backend_and_migrations(database_url)
    return [m.id for m in backend.to_apply(migrations)]


_INVALID_INDEXES = """
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT i.indisvalid AND n.nspname = current_schema()
"""


def _drop_invalid_indexes(database_url: str) -> None:
    """Drop what an interrupted `CREATE INDEX CONCURRENTLY` left behind (an INVALID index, which
    `IF NOT EXISTS` would take for done), so that the migration run again builds it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for (name,) in conn.execute(_INVALID_INDEXES).fetchall():
            logger.warning("dropping an invalid index left by an interrupted migration: %s", name)
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(name)))


def migrate(database_url: str) -> list[str]:
    """Apply every pending migration; return the ids applied (empty when current)."""
    backend, migrations = _backend_and_migrations(database_url)
    with backend.lock():
        todo = backend.to_apply(migrations)
        if todo:
            _drop_invalid_indexes(database_url)
        backend.apply_migrations(todo)
    applied = [m.id for m in todo]
    if applied:
        logger.info("migrations applied", extra={"migrations": applied})
    return applied
