"""Shared fixtures: a fresh PostgreSQL database per test session, migrated, emptied per test.

The server is the one at TEST_DATABASE_ADMIN_URL (default: 127.0.0.1:5432, as on the dev and CI
machines); when none answers there, the embedded PostgreSQL is started instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from functions.core import db
from functions.core.config import get_settings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "tests" / "data" / "movies_sample_real.csv"


LEVELS = ("unit", "integration", "e2e", "deploy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its level, the folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts and parts[0] in LEVELS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def _admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(url, connect_timeout=3).close()
        return url
    except psycopg.OperationalError:
        from functions.core.embedded import start_embedded_postgres

        return start_embedded_postgres(Path("/var/tmp/moviedb-test-embedded"))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    admin = _admin_url()
    name = f"moviedb_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(admin, name)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("MOVIEDB_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    get_settings.cache_clear()
    db.database_url.cache_clear()
    from functions.core.schema import migrate

    migrate(url)
    yield url
    db.close_pool()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """An empty catalogue: every table truncated before the test (the shared count cache too:
    emptying `movies` behind the uploads' back does not advance the catalogue version)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE movies, movie_changes, upload_rejections, uploads, count_cache RESTART IDENTITY CASCADE"
        )
    yield database_url


@pytest.fixture
def conn(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as connection:
        yield connection
