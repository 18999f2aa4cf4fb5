"""What routes receive as FastAPI dependencies: a pooled connection, the settings. Tests override
these (`app.dependency_overrides`) instead of clearing caches by hand. (The listing reads the
count cache and the catalogue version in its endpoint: a sync dependency is a threadpool hop of
its own, functions/movies.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends

from functions.core.config import Settings, get_settings
from functions.core.db import get_pool
from functions.core.replicas import read_connection


def pooled_connection() -> Iterator[psycopg.Connection]:
    """A connection of the process's pool for the length of the request."""
    with get_pool().connection() as conn:
        yield conn


def replica_connection() -> Iterator[psycopg.Connection]:
    """A connection for a read that tolerates a little lag: a replica's, else the primary's."""
    with read_connection() as conn:
        yield conn


ConnectionDep = Annotated[psycopg.Connection, Depends(pooled_connection)]
ReadConnectionDep = Annotated[psycopg.Connection, Depends(replica_connection)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
