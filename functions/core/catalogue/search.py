"""Reading the movie catalogue: the listing (filters, sorts, pages, cursors, counts) and one movie.

The parts: the request and answer models (query.py), cursors (cursors.py), the SQL
(statements.py), the counts (counts.py); this module puts them together.

`MovieQuery` is the validated request (the API's query parameters, typed); `search_page(conn,
query)` answers it with the page as plain data in `MoviePage`'s shape, which the API writes with
`page_json` (the model's bytes, without building and validating ten models: some 30 µs of the
~0.7 ms of CPU a page costs in the API); `search_movies(conn, query)` answers with a
`MoviePage`; `get_movie(conn, id)` returns one movie. The indexes that serve these statements
are in functions/core/schema/migrations/0007_index_economy.sql;
docs/api-movies.md says what each parameter means and which index answers which combination.

Choices:
- Every order is `<sort column> <dir> NULLS LAST, id <dir>` (`vote_average` ties broken by
  `vote_count DESC NULLS LAST` first, as the original system did): total and deterministic, so
  walking the pages (by `page` or by `cursor`) returns each matching movie exactly once. With no
  `sort_by`, the original's order: `release_date` newest first. An order is read in stretches,
  one index range each (order.py).
- Year filters become `release_date` ranges (`release_year` is generated from `release_date`), so
  the release_date indexes serve them.
- `cursor` (keyset pagination) is the fast path at any depth. It is opaque and signed
  (HMAC-SHA256 with `MOVIEDB_CURSOR_SECRET`): a cursor that was altered, or that was made for
  other filters or another sort, is rejected as a validation error, never a 500.
- `page` deep in the listing uses a deferred join (the ids of the page from an index, then their
  rows), which is as good as OFFSET gets; it still walks `offset` index entries.
- `count=exact` (default) is counted once per filter set and catalogue version, shared by every
  process (counts.py) for `MOVIEDB_COUNT_CACHE_SECONDS`; `estimated` is the planner's estimate;
  `none` skips it.
"""

from __future__ import annotations

import operator
from typing import Any

import psycopg
import pydantic_core
from psycopg import sql
from psycopg.rows import dict_row

from functions.core.catalogue.columns import MOVIE_FIELDS
from functions.core.catalogue.counts import CountCache, estimated_count, exact_count
from functions.core.catalogue.cursors import Position, encode_cursor
from functions.core.catalogue.order import stretches
from functions.core.catalogue.query import Movie, MoviePage, MovieQuery
from functions.core.catalogue.statements import (
    SELECT_LIST,
    Statement,
    stretch_count_statement,
    stretch_statement,
)
from functions.core.limits import INT8_MAX

# A page row, as the page statement selects it (statements.py): the movie's fields
# (MOVIE_FIELDS), the stretch's sort keys but the id, then the catalogue version.
Row = tuple[Any, ...]
_SORT_KEYS = slice(len(MOVIE_FIELDS), -1)
# The row's positions of the fields of `Movie`, in the model's order (the JSON's order).
_ITEM_FIELDS: tuple[str, ...] = tuple(Movie.model_fields)
_ITEM_POSITIONS = operator.itemgetter(*(MOVIE_FIELDS.index(name) for name in _ITEM_FIELDS))


def _fetch(conn: psycopg.Connection, statement: Statement) -> list[Row]:
    with conn.cursor() as cur:
        cur.execute(statement.query, statement.params)
        return cur.fetchall()


def _page_rows(conn: psycopg.Connection, query: MovieQuery, want: int) -> list[tuple[int, Row]]:
    """Up to `want` movies from where the page begins, each with the stretch of the order it
    was found in: the stretches in turn, until the page is full."""
    order = stretches(query.sort_by, query.sort_order)
    after = query.after
    first = after.stretch if after is not None else 0
    offset = query.offset if after is None else 0
    found: list[tuple[int, Row]] = []
    for index in range(first, len(order)):
        statement = stretch_statement(
            query,
            want - len(found),
            stretch=index,
            after=after if index == first else None,
            offset=offset,
        )
        rows = _fetch(conn, statement)
        found += [(index, row) for row in rows]
        if len(found) >= want or index == len(order) - 1:
            break
        if offset and not rows:
            # the page begins past this stretch: skip what it holds in the next one
            count = stretch_count_statement(query, index)
            row = conn.execute(count.query, count.params).fetchone()
            offset -= int(row[0]) if row else 0
        else:
            offset = 0
    return found


def search_page(
    conn: psycopg.Connection, query: MovieQuery, *, count_cache: CountCache | None = None
) -> dict[str, Any]:
    """One page of the listing as plain data, the shape of `MoviePage` (its items the fields of
    `Movie`, in the model's order): its total as `query.count` asks, and the next page's
    cursor. The values are the database's, already of the model's types, so the page needs no
    validation pass: `page_json` writes it, `search_movies` makes it a `MoviePage`."""
    want = query.page_size + 1  # one more tells whether there is a next page
    found = _page_rows(conn, query, want)
    next_cursor = None
    if len(found) > query.page_size:
        found = found[: query.page_size]
        stretch, last = found[-1]
        position = Position(
            query.sort_by,
            query.sort_order,
            query.filter_key,
            stretch,
            last[_SORT_KEYS],
            last[0],
        )
        next_cursor = encode_cursor(position)
    total: int | None = None
    if query.count == "exact":
        # the count of the catalogue the page was read from (a publish may have just committed)
        seen = found[0][1][-1] if found else None
        total = exact_count(conn, query, count_cache, version=seen)
    elif query.count == "estimated":
        total = estimated_count(conn, query)
    return {
        "items": [dict(zip(_ITEM_FIELDS, _ITEM_POSITIONS(row), strict=True)) for _, row in found],
        "total": total,
        "count": query.count,
        "next_cursor": next_cursor,
    }


def page_json(page: dict[str, Any]) -> bytes:
    """The page of `search_page` as JSON: the bytes `MoviePage(**page).model_dump_json()`
    writes (pydantic's own serializer, without building and validating the models)."""
    return pydantic_core.to_json(page)


def search_movies(
    conn: psycopg.Connection, query: MovieQuery, *, count_cache: CountCache | None = None
) -> MoviePage:
    """One page of the listing, its total as `query.count` asks, and the next page's cursor."""
    return MoviePage.model_validate(search_page(conn, query, count_cache=count_cache))


_GET_MOVIE = (
    sql.SQL("SELECT {fields} FROM movies m WHERE m.id = %(id)s")
    .format(fields=SELECT_LIST)
    .as_bytes()
)


def get_movie(conn: psycopg.Connection, movie_id: int) -> Movie | None:
    """One movie by id, or None."""
    if not 1 <= movie_id <= INT8_MAX:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_GET_MOVIE, {"id": movie_id}).fetchone()
    return Movie.model_validate(row) if row is not None else None
