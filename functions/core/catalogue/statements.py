"""The listing's SQL: statements composed with psycopg.sql (identifiers quoted, values always
parameters), rendered once per shape (which filters, which sort, cursor or page); a request only
fills in the parameters. The indexes that serve them are in
functions/core/schema/migrations/0002_query_indexes.sql."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from psycopg import sql

from functions.core.catalogue.columns import MOVIE_FIELDS, SORT_COLUMNS
from functions.core.catalogue.query import MAX_YEAR, MIN_YEAR, MovieQuery

SELECT_LIST = sql.SQL(", ").join(sql.Identifier("m", name) for name in MOVIE_FIELDS)

# Each filter's condition, by the name of the parameter it takes.
_FILTER_SQL: dict[str, sql.SQL] = {
    "date_low": sql.SQL("m.release_date >= %(date_low)s"),
    "date_high": sql.SQL("m.release_date < %(date_high)s"),
    "language": sql.SQL("m.original_language = %(language)s"),
    "spoken": sql.SQL("m.languages && %(spoken)s::text[]"),
    "genre_id": sql.SQL("m.genre_id = %(genre_id)s"),
    "min_votes": sql.SQL("m.vote_count >= %(min_votes)s"),
    "title_pattern": sql.SQL("m.title ILIKE %(title_pattern)s"),
}


# Filters on columns the sort indexes carry (INCLUDE): checked inside the index.
_CARRIED_FILTERS = frozenset({"date_low", "date_high", "language", "genre_id", "min_votes"})


@dataclass(frozen=True)
class Statement:
    """A rendered statement and its parameters (unit-testable without a database)."""

    query: bytes
    params: dict[str, Any]

    def as_string(self) -> str:
        return self.query.decode()


def _year_bounds(query: MovieQuery) -> tuple[date | None, date | None]:
    """release_year / year_from / year_to as a half-open release_date range [low, high)."""
    lows = [y for y in (query.release_year, query.year_from) if y is not None]
    highs = [y for y in (query.release_year, query.year_to) if y is not None]
    low = date(max(lows), 1, 1) if lows else None
    high_year = min(highs) + 1 if highs else None
    high = date(high_year, 1, 1) if high_year is not None and high_year <= MAX_YEAR else None
    if high_year is not None and high is None and low is None:
        low = date(MIN_YEAR, 1, 1)  # `year_to=9999`: any known release date
    return low, high


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its wildcard characters taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filter_params(query: MovieQuery) -> dict[str, Any]:
    """The filters' parameters; their names select the conditions (`_FILTER_SQL`)."""
    params: dict[str, Any] = {}
    low, high = _year_bounds(query)
    if low is not None:
        params["date_low"] = low
    if high is not None:
        params["date_high"] = high
    if query.language is not None:
        params["language"] = query.language
    if query.spoken_names is not None:
        params["spoken"] = list(query.spoken_names)
    if query.genre_id is not None:
        params["genre_id"] = query.genre_id
    if query.min_votes is not None:
        params["min_votes"] = query.min_votes
    if query.q is not None:
        params["title_pattern"] = like_pattern(query.q)
    return params


def _where(conditions: Sequence[sql.Composable]) -> sql.Composable:
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)


def order_by(sort_by: str, sort_order: str) -> sql.Composable:
    """`<column> <dir> NULLS LAST, id <dir>`: the order every index in 0002 is built for."""
    direction = sql.SQL("DESC" if sort_order == "desc" else "ASC")
    if sort_by == "id":
        return sql.SQL("m.id {}").format(direction)
    if not SORT_COLUMNS[sort_by][1]:
        # NOT NULL: a plain order, so a backward scan of the ascending index serves DESC
        return sql.SQL("{} {}, m.id {}").format(sql.Identifier("m", sort_by), direction, direction)
    return sql.SQL("{} {} NULLS LAST, m.id {}").format(
        sql.Identifier("m", sort_by), direction, direction
    )


Keyset = Literal["none", "value", "null", "nulls_start"]


def _keyset_sql(sort_by: str, sort_order: str, keyset: Keyset) -> list[sql.Composable]:
    """Rows after the cursor's position in the listing's order.

    `value`: after (value, id) among the non-NULL values (a row comparison, which the sort index
    answers by seeking); `null`: after id within the NULLs; `nulls_start`: the NULLs from the
    start (once the non-NULL values ran out).
    """
    if keyset == "none":
        return []
    after = sql.SQL(">" if sort_order == "asc" else "<")
    if sort_by == "id":
        return [sql.SQL("m.id {} %(after_id)s").format(after)]
    column = sql.Identifier("m", sort_by)
    if keyset == "nulls_start":
        return [sql.SQL("{} IS NULL").format(column)]
    if keyset == "null":
        return [
            sql.SQL("{} IS NULL").format(column),
            sql.SQL("m.id {} %(after_id)s").format(after),
        ]
    sql_type, _ = SORT_COLUMNS[sort_by]
    return [
        sql.SQL("({}, m.id) {} (%(after_value)s::{}, %(after_id)s)").format(
            column, after, sql.SQL(sql_type)
        )
    ]


@lru_cache(maxsize=2048)
def _render_page(
    filters: tuple[str, ...], sort_by: str, sort_order: str, keyset: Keyset, offset: bool
) -> bytes:
    conditions = [
        *(_FILTER_SQL[name] for name in filters),
        *_keyset_sql(sort_by, sort_order, keyset),
    ]
    order = order_by(sort_by, sort_order)
    if not offset and not set(filters) & _CARRIED_FILTERS:
        # Straight down the sort index: nothing to skip, and no filter the index could check
        # (spoken_language and q need the row anyway).
        statement = sql.SQL(
            "SELECT {fields} FROM movies m{where} ORDER BY {order} LIMIT %(limit)s"
        ).format(fields=SELECT_LIST, where=_where(conditions), order=order)
    else:
        # Deferred join: find the page's ids first, in a sort index that carries the filter
        # columns (index-only once the table is vacuumed), then read just those rows.
        statement = sql.SQL(
            "SELECT {fields} FROM ("
            "SELECT m.id FROM movies m{where} ORDER BY {order}{offset} LIMIT %(limit)s"
            ") page JOIN movies m ON m.id = page.id ORDER BY {order}"
        ).format(
            fields=SELECT_LIST,
            where=_where(conditions),
            order=order,
            offset=sql.SQL(" OFFSET %(offset)s") if offset else sql.SQL(""),
        )
    return statement.as_bytes()


def page_statement(query: MovieQuery, limit: int) -> Statement:
    """The statement for one page: by cursor (keyset) or by page number (OFFSET)."""
    params = filter_params(query)
    filters = tuple(params)
    params["limit"] = limit
    position = query.after
    keyset: Keyset = "none"
    if position is not None:
        params["after_id"] = position.id
        if query.sort_by == "id" or position.value is not None:
            keyset = "value"
            if query.sort_by != "id":
                params["after_value"] = position.value
        else:
            keyset = "null"
    elif query.offset:
        params["offset"] = query.offset
    query_bytes = _render_page(
        filters, query.sort_by, query.sort_order, keyset, position is None and query.offset > 0
    )
    return Statement(query_bytes, params)


def nulls_statement(query: MovieQuery, limit: int) -> Statement:
    """The first rows of the NULL part of a nullable sort (after the non-NULL part ran out)."""
    params = filter_params(query)
    filters = tuple(params)
    params["limit"] = limit
    query_bytes = _render_page(filters, query.sort_by, query.sort_order, "nulls_start", False)
    return Statement(query_bytes, params)


@lru_cache(maxsize=256)
def _render_count(filters: tuple[str, ...], explain: bool) -> bytes:
    conditions = [_FILTER_SQL[name] for name in filters]
    if explain:
        text = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM movies m{where}")
    else:
        text = sql.SQL("SELECT count(*) FROM movies m{where}")
    return text.format(where=_where(conditions)).as_bytes()


def count_statement(query: MovieQuery) -> Statement:
    params = filter_params(query)
    return Statement(_render_count(tuple(params), False), params)


def count_plan_statement(query: MovieQuery) -> Statement:
    """The planner's plan of the count (EXPLAIN): its row estimate, without a scan."""
    params = filter_params(query)
    return Statement(_render_count(tuple(params), True), params)
