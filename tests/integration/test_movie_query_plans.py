"""Every documented filter + sort combination of the movie listing is answered from an index.

The plans are checked on a database of its own holding 200,000 synthetic movies with realistic
shares (bench/synthetic_movies.py), vacuumed and analysed, so the planner decides on real
statistics (no `enable_seqscan = off`). For each combination the statements the listing really
runs are EXPLAINed: the first page, a page reached by cursor, the continuation into the NULLs of
a nullable sort, a deep page by number, and the exact count.
"""

from __future__ import annotations

import importlib.util
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from functions.core.catalogue.columns import SORT_COLUMNS
from functions.core.catalogue.order import stretches
from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.search import search_movies
from functions.core.catalogue.statements import (
    Statement,
    count_statement,
    stretch_count_statement,
    stretch_statement,
)
from functions.core.schema import migrate

ROWS = 200_000
REPO = Path(__file__).resolve().parents[2]

# The documented combinations (docs/api-movies.md): each filter alone and the seed's pair,
# with every sort in both directions. Values span common and rare matches.
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "release_year": {"release_year": 2010},
    "year_range": {"year_from": 1990, "year_to": 1999},
    "language (common)": {"language": "en"},
    "language (rare)": {"language": "Français"},
    "language + release_year": {"language": "fr", "release_year": 2010},
    "spoken_language (common)": {"spoken_language": "English"},
    "spoken_language (rare)": {"spoken_language": "\u0420\u0443\u0441\u0441\u043a\u0438\u0439"},
    "genre_id": {"genre_id": 35},
    "min_votes": {"min_votes": 1000},
    "q": {"q": "love"},
}
SORTS = ("id", *SORT_COLUMNS)
# Counting a filter that matches most of the table is a full pass whatever the plan (then a seq
# scan is the cheapest one); the listing caches such counts (MOVIEDB_COUNT_CACHE_SECONDS).
BROAD_SHARE = 0.3
BROAD_FILTERS = ("none", "language (common)", "spoken_language (common)")

pytestmark = pytest.mark.slow


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "synthetic_movies", REPO / "bench/synthetic_movies.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plans_db(database_url: str) -> Iterator[psycopg.Connection]:
    name = f"moviedb_plans_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            _load_generator().load_movies(conn, ROWS)
            yield conn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(conn: psycopg.Connection, statement: Statement) -> dict[str, Any]:
    row = conn.execute(b"EXPLAIN (FORMAT JSON) " + statement.query, statement.params).fetchone()
    assert row is not None
    return row[0][0]["Plan"]


def _seq_scans_of_movies(plan: dict[str, Any]) -> list[str]:
    return [
        f"{node['Node Type']} on {node.get('Relation Name')}"
        for node in _nodes(plan)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "movies"
    ]


def _statements(conn: psycopg.Connection, filters: dict[str, Any], sort_by: str, order: str):
    """Each statement a page of this listing may run, in each stretch of its order."""
    params = {**filters, "sort_by": sort_by, "sort_order": order}
    query = MovieQuery(**params)
    cursor = search_movies(conn, MovieQuery(**params, count="none")).next_cursor
    after = MovieQuery(**params, cursor=cursor).after if cursor is not None else None
    for n, _ in enumerate(stretches(sort_by, order)):
        name = f"stretch {n}"
        yield f"{name} first page", stretch_statement(query, 11, stretch=n)
        yield f"{name} deep page", stretch_statement(query, 11, stretch=n, offset=ROWS // 4)
        if after is not None and after.stretch == n:
            yield f"{name} cursor page", stretch_statement(query, 11, stretch=n, after=after)
        if n < len(stretches(sort_by, order)) - 1:
            yield f"{name} count (a page past it)", stretch_count_statement(query, n)


def test_the_dataset_has_realistic_statistics(plans_db: psycopg.Connection):
    (rows, analysed) = plans_db.execute(
        "SELECT reltuples, last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL "
        "FROM pg_class JOIN pg_stat_user_tables USING (relname) WHERE relname = 'movies'"
    ).fetchone()
    assert rows > ROWS * 0.9
    assert analysed


@pytest.mark.parametrize("filter_name", FILTERS)
def test_every_listing_statement_uses_an_index(plans_db: psycopg.Connection, filter_name: str):
    filters = FILTERS[filter_name]
    failures = []
    for sort_by, order in itertools.product(SORTS, ("asc", "desc")):
        for kind, statement in _statements(plans_db, filters, sort_by, order):
            if "count" in kind and filter_name in BROAD_FILTERS:
                continue  # counting most of the table: a full pass whatever the plan (below)
            scans = _seq_scans_of_movies(_plan(plans_db, statement))
            if scans:
                failures.append(f"{sort_by} {order}, {kind}: {scans}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("filter_name", [f for f in FILTERS if f not in BROAD_FILTERS])
def test_counting_a_narrow_filter_uses_an_index(plans_db: psycopg.Connection, filter_name: str):
    query = MovieQuery(**FILTERS[filter_name])
    plan = _plan(plans_db, count_statement(query))
    (matching,) = plans_db.execute(
        count_statement(query).query, count_statement(query).params
    ).fetchone()
    assert matching <= BROAD_SHARE * ROWS, f"{filter_name} matches {matching} movies: not narrow"
    assert not _seq_scans_of_movies(plan)


@pytest.mark.parametrize("filter_name", BROAD_FILTERS)
def test_broad_filters_really_match_most_movies(plans_db: psycopg.Connection, filter_name: str):
    """Their count is a full pass whatever the plan (cached per filter set): the premise that
    exempts them from the index check above."""
    statement = count_statement(MovieQuery(**FILTERS[filter_name]))
    (matching,) = plans_db.execute(statement.query, statement.params).fetchone()
    assert matching > BROAD_SHARE * ROWS
