"""The listing's SQL: statements composed with psycopg.sql (identifiers quoted, values always
parameters), rendered once per shape (which filters, which sort, cursor or page); a request only
fills in the parameters. The orders are in order.py, the indexes that serve them in
functions/core/schema/migrations/0007_index_economy.sql."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from psycopg import sql

from functions.core.catalogue.columns import MOVIE_FIELDS
from functions.core.catalogue.cursors import Position
from functions.core.catalogue.order import Stretch, stretches
from functions.core.catalogue.query import MAX_YEAR, MIN_YEAR, MovieQuery
from functions.core.catalogue.version import CURRENT_VERSION

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


# Filters an index can check without reading the row (the language index carries the years and
# the rating columns; genre_id and vote_count have indexes of their own): a page's ids first.
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


def _keys(stretch: Stretch) -> list[sql.Composable]:
    return [sql.SQL(key.expression) for key in stretch.keys]


def order_by(stretch: Stretch, sort_order: str) -> sql.Composable:
    """The stretch's keys in the order's direction: the order its index holds (order.py)."""
    direction = sql.SQL(" DESC" if sort_order == "desc" else "")
    return sql.SQL(", ").join(key + direction for key in _keys(stretch))


def _sort_key_columns(stretch: Stretch) -> sql.Composable:
    """The stretch's keys but `id`, selected as `sort_key_<n>`: what a cursor keeps."""
    return sql.SQL("").join(
        sql.SQL(", {} AS {}").format(key, sql.Identifier(f"sort_key_{n}"))
        for n, key in enumerate(_keys(stretch)[:-1])
    )


def _after(stretch: Stretch, sort_order: str) -> sql.Composable:
    """Rows after a cursor's position within the stretch: a row comparison of its keys, which
    the index answers by seeking to the position."""
    keys = _keys(stretch)
    values: list[sql.Composable] = [
        sql.SQL("%(after_{})s::{}").format(sql.SQL(str(n)), sql.SQL(key.sql_type))
        for n, key in enumerate(stretch.keys[:-1])
    ]
    values.append(sql.SQL("%(after_id)s"))
    return sql.SQL("({}) {} ({})").format(
        sql.SQL(", ").join(keys),
        sql.SQL(">" if sort_order == "asc" else "<"),
        sql.SQL(", ").join(values),
    )


@lru_cache(maxsize=2048)
def _render_page(
    filters: tuple[str, ...],
    sort_by: str,
    sort_order: str,
    stretch_index: int,
    after: bool,
    offset: bool,
) -> bytes:
    stretch = stretches(sort_by, sort_order)[stretch_index]
    conditions: list[sql.Composable] = [_FILTER_SQL[name] for name in filters]
    if stretch.condition is not None:
        conditions.append(sql.SQL(stretch.condition))
    if after:
        conditions.append(_after(stretch, sort_order))
    order = order_by(stretch, sort_order)
    # the catalogue version beside the rows, from the same snapshot: the page's total is then
    # the count of that version, whatever this process last knew of it (counts.py). search.py
    # reads a row by position: the movie's fields, the sort keys, the version.
    fields = (
        SELECT_LIST
        + _sort_key_columns(stretch)
        + sql.SQL(f", {CURRENT_VERSION} AS catalogue_version")
    )
    if not offset and not set(filters) & _CARRIED_FILTERS:
        # Straight down the sort index: nothing to skip, and no filter an index could check
        # (spoken_language and q need the row anyway).
        statement = sql.SQL(
            "SELECT {fields} FROM movies m{where} ORDER BY {order} LIMIT %(limit)s"
        ).format(fields=fields, where=_where(conditions), order=order)
    else:
        # Deferred join: find the page's ids first (from the index alone where it carries the
        # filter columns, once the table is vacuumed), then read just those rows.
        statement = sql.SQL(
            "SELECT {fields} FROM ("
            "SELECT m.id FROM movies m{where} ORDER BY {order}{offset} LIMIT %(limit)s"
            ") page JOIN movies m ON m.id = page.id ORDER BY {order}"
        ).format(
            fields=fields,
            where=_where(conditions),
            order=order,
            offset=sql.SQL(" OFFSET %(offset)s") if offset else sql.SQL(""),
        )
    return statement.as_bytes()


def page_statement(query: MovieQuery, limit: int) -> Statement:
    """The first statement of the query's page: from its cursor's position, or past its offset
    in the order's first stretch."""
    after = query.after
    if after is not None:
        return stretch_statement(query, limit, stretch=after.stretch, after=after)
    return stretch_statement(query, limit, stretch=0, offset=query.offset)


def stretch_statement(
    query: MovieQuery,
    limit: int,
    *,
    stretch: int,
    after: Position | None = None,
    offset: int = 0,
) -> Statement:
    """Up to `limit` movies of the order's stretch number `stretch` (order.py), after the
    cursor's position `after` (keyset) or past `offset` movies."""
    params = filter_params(query)
    filters = tuple(params)
    params["limit"] = limit
    if after is not None:
        params["after_id"] = after.id
        params.update({f"after_{n}": value for n, value in enumerate(after.keys)})
    elif offset:
        params["offset"] = offset
    query_bytes = _render_page(
        filters,
        query.sort_by,
        query.sort_order,
        stretch,
        after is not None,
        after is None and offset > 0,
    )
    return Statement(query_bytes, params)


@lru_cache(maxsize=256)
def _render_count(filters: tuple[str, ...], explain: bool, condition: str | None = None) -> bytes:
    conditions: list[sql.Composable] = [_FILTER_SQL[name] for name in filters]
    if condition is not None:
        conditions.append(sql.SQL(condition))
    if explain:
        text = sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM movies m{where}")
    else:
        text = sql.SQL("SELECT count(*) FROM movies m{where}")
    return text.format(where=_where(conditions)).as_bytes()


def count_statement(query: MovieQuery) -> Statement:
    params = filter_params(query)
    return Statement(_render_count(tuple(params), False), params)


def stretch_count_statement(query: MovieQuery, stretch: int) -> Statement:
    """The number of matching movies in one stretch of the order (a page by number that
    begins past the stretch skips that many)."""
    params = filter_params(query)
    condition = stretches(query.sort_by, query.sort_order)[stretch].condition
    return Statement(_render_count(tuple(params), False, condition), params)


def count_plan_statement(query: MovieQuery) -> Statement:
    """The planner's plan of the count (EXPLAIN): its row estimate, without a scan."""
    params = filter_params(query)
    return Statement(_render_count(tuple(params), True), params)
