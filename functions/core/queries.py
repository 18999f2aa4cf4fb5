"""Reading the movie catalogue: the listing (filters, sorts, pages, cursors, counts) and one movie.

`MovieQuery` is the validated request (the API's query parameters, typed); `search_movies(conn,
query)` answers it with a `MoviePage`, `get_movie(conn, id)` returns one movie. The indexes that
serve these statements are in infra/migrations/0002_query_indexes.sql; docs/api-movies.md says
what each parameter means and which index answers which combination.

Choices:
- Every order is `<sort column> <dir> NULLS LAST, id <dir>`: total and deterministic, so walking
  the pages (by `page` or by `cursor`) returns each matching movie exactly once.
- Year filters become `release_date` ranges (`release_year` is generated from `release_date`), so
  the release_date indexes serve them.
- `cursor` (keyset pagination) is the fast path at any depth. It is opaque and signed
  (HMAC-SHA256 with `MOVIEDB_CURSOR_SECRET`): a cursor that was altered, or that was made for
  other filters or another sort, is rejected as a validation error, never a 500.
- `page` deep in the listing uses a deferred join (the ids of the page from an index, then their
  rows), which is as good as OFFSET gets; it still walks `offset` index entries.
- `count=exact` (default) is cached per filter set for `MOVIEDB_COUNT_CACHE_SECONDS` and dropped
  within a second of an upload completing; `estimated` is the planner's estimate; `none` skips
  it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from functions.core.config import get_settings
from functions.core.languages import language_code, spoken_names
from functions.core.parsing import MOVIE_COLUMNS

SortBy = Literal["id", "release_date", "vote_average", "vote_count", "revenue", "title"]
SortOrder = Literal["asc", "desc"]
CountMode = Literal["exact", "estimated", "none"]

MAX_PAGE = 10_000_000
MAX_PAGE_SIZE = 100
MIN_YEAR, MAX_YEAR = 1, 9999
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
MAX_CURSOR_LENGTH = 1000
_WORD = re.compile(r"[^\W_]{3}")

# The sortable columns, with the SQL type of their values (cursor values are cast to it, so the
# comparison is exact and the index applies) and whether they can be NULL.
SORT_COLUMNS: dict[str, tuple[str, bool]] = {
    "release_date": ("date", True),
    "vote_average": ("real", True),
    "vote_count": ("integer", True),
    "revenue": ("bigint", True),
    "title": ("text", False),
}

# What a listed movie carries: its id, the columns of the source file, its release year.
MOVIE_FIELDS: tuple[str, ...] = ("id", *MOVIE_COLUMNS, "release_year")


class Movie(BaseModel):
    """One movie as the API shows it: the columns of the source file, its id and release year."""

    id: int
    title: str
    original_title: str | None
    original_language: str | None = Field(description="ISO 639-1 code, e.g. `fr`.")
    overview: str | None
    release_date: date | None
    release_year: int | None = Field(description="Year of `release_date`.")
    budget: int | None = Field(description="In dollars; null when unknown.")
    revenue: int | None = Field(description="In dollars; null when unknown.")
    runtime: int | None = Field(description="Minutes.")
    status: str | None
    vote_average: float | None = Field(description="0..10; null when unrated.")
    vote_count: int | None
    production_company_id: int | None
    genre_id: int | None
    homepage: str | None
    languages: list[str] = Field(
        description="Spoken languages, by their name in their own script (`Français`)."
    )


class MoviePage(BaseModel):
    items: list[Movie]
    total: int | None = Field(
        description="Movies matching the filters: exact, estimated or null, as `count` asked."
    )
    count: CountMode = Field(description="How `total` was obtained.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters and sort) for the next page; "
        "null on the last page."
    )


# --- the request ---------------------------------------------------------------------------


class MovieQuery(BaseModel):
    """The listing's parameters. Invalid values raise pydantic's ValidationError (a 422)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    page: int = Field(1, ge=1, le=MAX_PAGE, description="1-based page number.")
    page_size: int = Field(10, ge=1, le=MAX_PAGE_SIZE, description="Movies per page (1..100).")
    release_year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, examples=[1995])
    year_from: int | None = Field(
        None, ge=MIN_YEAR, le=MAX_YEAR, description="Released in or after this year."
    )
    year_to: int | None = Field(
        None, ge=MIN_YEAR, le=MAX_YEAR, description="Released in or before this year."
    )
    language: str | None = Field(
        None,
        max_length=100,
        description="Original language: an ISO 639-1 code (`fr`) or a language name in English "
        "or in its own script (`French`, `Français`).",
        examples=["fr"],
    )
    spoken_language: str | None = Field(
        None,
        max_length=100,
        description="A spoken language (the `languages` list): a name in any script "
        "(`Русский`, `Pусский`, `Russian`) or a code (`ru`).",
        examples=["Français"],
    )
    genre_id: int | None = Field(None, ge=0, le=INT8_MAX)
    min_votes: int | None = Field(None, ge=0, le=INT4_MAX, description="vote_count at least.")
    q: str | None = Field(
        None,
        min_length=3,
        max_length=200,
        description="Words in the title (case-insensitive substring, at least 3 characters).",
        examples=["story"],
    )
    sort_by: SortBy = Field("id", description="Sort column; ties are broken by id.")
    sort_order: SortOrder = Field("asc", description="NULLs come last in both orders.")
    count: CountMode = Field(
        "exact", description="`exact` (cached briefly), `estimated` (planner) or `none`."
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="`next_cursor` of the previous page: keyset pagination, fast at any depth. "
        "Send the same filters and sort with it; do not combine it with `page`.",
    )

    @field_validator("language", "spoken_language", "q", "cursor")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: refused here rather than failing in the database
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else language_code(value)

    @field_validator("spoken_language", "q", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("q")
    @classmethod
    def _searchable(cls, value: str | None) -> str | None:
        # the trigram index needs three letters or digits in a row to narrow the search
        if value is not None and not _WORD.search(value):
            raise ValueError("q needs at least 3 letters or digits in a row")
        return value

    @field_validator("year_to")
    @classmethod
    def _years_in_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("year_from")
        if value is not None and start is not None and value < start:
            raise ValueError(f"year_to ({value}) is before year_from ({start})")
        return value

    @field_validator("cursor")
    @classmethod
    def _valid_cursor(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        if info.data.get("page", 1) != 1:
            raise ValueError("give either page or cursor, not both")
        fields = ("sort_by", "sort_order", *_FILTER_FIELDS)
        if any(name not in info.data for name in fields):
            return value  # another parameter is invalid and reported; nothing to compare
        position = decode_cursor(value)
        expected = (info.data["sort_by"], info.data["sort_order"], _fingerprint(info.data))
        if (position.sort_by, position.sort_order, position.fingerprint) != expected:
            raise ValueError(
                "this cursor belongs to another listing: send it with the same filters, "
                "sort_by and sort_order as the request that returned it"
            )
        return value

    # --- derived, for the SQL ---

    @cached_property
    def after(self) -> Position | None:
        return decode_cursor(self.cursor) if self.cursor else None

    @cached_property
    def spoken_names(self) -> tuple[str, ...] | None:
        return spoken_names(self.spoken_language) if self.spoken_language else None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @cached_property
    def filter_key(self) -> str:
        """The filters (not sort or page), canonical: the count cache key and cursor binding."""
        return _fingerprint(self.model_dump(include=set(_FILTER_FIELDS)))


_FILTER_FIELDS = (
    "release_year",
    "year_from",
    "year_to",
    "language",
    "spoken_language",
    "genre_id",
    "min_votes",
    "q",
)


def _fingerprint(values: dict[str, Any]) -> str:
    canonical = {name: values.get(name) for name in _FILTER_FIELDS}
    if canonical["spoken_language"]:
        # the same language however it was written
        canonical["spoken_language"] = sorted(spoken_names(canonical["spoken_language"]))
    blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- cursors -------------------------------------------------------------------------------

CURSOR_VERSION = 1


class InvalidCursor(ValueError):
    """A cursor that was not made by this service, was altered, or is malformed."""

    def __init__(self, reason: str = "cursor is invalid or was altered") -> None:
        super().__init__(reason)


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last movie's sort value and id, for the listing it belongs to."""

    sort_by: str
    sort_order: str
    fingerprint: str
    value: Any  # date | float | int | str | None (None: in the NULLs at the end)
    id: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise InvalidCursor()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None


def _signature(payload: bytes) -> bytes:
    key = get_settings().cursor_secret.encode()
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


def encode_cursor(position: Position) -> str:
    value = position.value
    if isinstance(value, date):
        value = value.isoformat()
    payload = json.dumps(
        [
            CURSOR_VERSION,
            position.sort_by,
            position.sort_order,
            position.fingerprint,
            value,
            position.id,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return f"{_b64encode(payload)}.{_b64encode(_signature(payload))}"


def _cursor_value(sort_by: str, raw: object) -> Any:
    """The sort value from a cursor, checked against the column's type."""
    if sort_by == "id":
        if raw is not None:
            raise InvalidCursor()
        return None
    sql_type, nullable = SORT_COLUMNS[sort_by]
    if raw is None:
        if not nullable:
            raise InvalidCursor()
        return None
    if sql_type == "date" and isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor() from None
    if sql_type == "real" and type(raw) in (int, float) and 0 <= raw <= 10:  # type: ignore[operator]
        return float(raw)  # type: ignore[arg-type]
    int_max = INT4_MAX if sql_type == "integer" else INT8_MAX
    if sql_type in ("integer", "bigint") and type(raw) is int and 0 <= raw <= int_max:
        return raw
    if sql_type == "text" and isinstance(raw, str) and 0 < len(raw) <= 500:
        return raw
    raise InvalidCursor()


def decode_cursor(text: str) -> Position:
    """The position a cursor made by `encode_cursor` stands for; InvalidCursor otherwise."""
    if len(text) > MAX_CURSOR_LENGTH or text.count(".") != 1:
        raise InvalidCursor()
    body, signature = text.split(".")
    payload = _b64decode(body)
    if not hmac.compare_digest(_b64decode(signature), _signature(payload)):
        raise InvalidCursor()
    try:
        fields = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidCursor() from None
    if not isinstance(fields, list) or len(fields) != 6 or fields[0] != CURSOR_VERSION:
        raise InvalidCursor("cursor is from another version of the service")
    _, sort_by, sort_order, fingerprint, raw, movie_id = fields
    if sort_by not in ("id", *SORT_COLUMNS) or sort_order not in ("asc", "desc"):
        raise InvalidCursor()
    if not isinstance(fingerprint, str) or type(movie_id) is not int:
        raise InvalidCursor()
    if not 1 <= movie_id <= INT8_MAX:
        raise InvalidCursor()
    return Position(sort_by, sort_order, fingerprint, _cursor_value(sort_by, raw), movie_id)


# --- SQL -----------------------------------------------------------------------------------
#
# Statements are composed with psycopg.sql (identifiers quoted, values always parameters) and
# rendered once per shape (which filters, which sort, cursor or page): a request only fills in
# the parameters.

_SELECT_LIST = sql.SQL(", ").join(sql.Identifier("m", name) for name in MOVIE_FIELDS)

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
        ).format(fields=_SELECT_LIST, where=_where(conditions), order=order)
    else:
        # Deferred join: find the page's ids first, in a sort index that carries the filter
        # columns (index-only once the table is vacuumed), then read just those rows.
        statement = sql.SQL(
            "SELECT {fields} FROM ("
            "SELECT m.id FROM movies m{where} ORDER BY {order}{offset} LIMIT %(limit)s"
            ") page JOIN movies m ON m.id = page.id ORDER BY {order}"
        ).format(
            fields=_SELECT_LIST,
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


# --- counts --------------------------------------------------------------------------------


class CountCache:
    """Exact counts per filter set, reused for `ttl` seconds while no upload completes.

    Which upload completed last (the catalogue's version) is itself looked up at most once per
    `version_check_seconds`, so a cached count costs no query at all.
    """

    def __init__(self, max_entries: int = 1024, version_check_seconds: float = 1.0) -> None:
        self._entries: OrderedDict[tuple[str, Any], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.version_check_seconds = version_check_seconds
        self._version: tuple[float, Any] | None = None

    def version(self, conn: psycopg.Connection) -> Any:
        """The newest completion time of an upload (NULL when none), looked up now and then."""
        now = time.monotonic()
        with self._lock:
            known = self._version
        if known is not None and now - known[0] < self.version_check_seconds:
            return known[1]
        row = conn.execute(_CATALOGUE_VERSION).fetchone()
        version = row[0] if row else None
        with self._lock:
            self._version = (now, version)
        return version

    def get(self, key: tuple[str, Any], ttl: float) -> int | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if time.monotonic() - stored_at > ttl:
                del self._entries[key]
                return None
            return value

    def put(self, key: tuple[str, Any], value: int) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._version = None


# The catalogue changes only when an upload completes: its newest completion time versions
# the cached counts.
_CATALOGUE_VERSION = "SELECT max(finished_at) FROM uploads WHERE status = 'completed'"

COUNT_CACHE = CountCache()


def exact_count(
    conn: psycopg.Connection, query: MovieQuery, cache: CountCache | None = COUNT_CACHE
) -> int:
    ttl = get_settings().count_cache_seconds
    key: tuple[str, Any] | None = None
    if cache is not None and ttl > 0:
        key = (query.filter_key, cache.version(conn))
        cached = cache.get(key, ttl)
        if cached is not None:
            return cached
    statement = count_statement(query)
    row = conn.execute(statement.query, statement.params).fetchone()
    total = int(row[0]) if row else 0
    if cache is not None and key is not None:
        cache.put(key, total)
    return total


def estimated_count(conn: psycopg.Connection, query: MovieQuery) -> int:
    """The planner's row estimate: no scan at all (exact only right after ANALYZE)."""
    params = filter_params(query)
    if not params:
        row = conn.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'movies'::regclass"
        ).fetchone()
        if row is not None and row[0] >= 0:
            return int(row[0])
    row = conn.execute(_render_count(tuple(params), True), params).fetchone()
    plan = row[0] if row else None
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"]) if plan else 0


# --- the core functions ----------------------------------------------------------------------


def _fetch(conn: psycopg.Connection, statement: Statement) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(statement.query, statement.params)
        return cur.fetchall()


def search_movies(
    conn: psycopg.Connection, query: MovieQuery, *, count_cache: CountCache | None = COUNT_CACHE
) -> MoviePage:
    """One page of the listing, its total as `query.count` asks, and the next page's cursor."""
    want = query.page_size + 1  # one more tells whether there is a next page
    rows = _fetch(conn, page_statement(query, want))
    nullable = query.sort_by in SORT_COLUMNS and SORT_COLUMNS[query.sort_by][1]
    after = query.after
    if after is not None and after.value is not None and nullable and len(rows) < want:
        # The keyset ran past the last non-NULL value: continue into the NULLs.
        rows += _fetch(conn, nulls_statement(query, want - len(rows)))
    next_cursor = None
    if len(rows) > query.page_size:
        rows = rows[: query.page_size]
        last = rows[-1]
        value = None if query.sort_by == "id" else last[query.sort_by]
        position = Position(query.sort_by, query.sort_order, query.filter_key, value, last["id"])
        next_cursor = encode_cursor(position)
    total: int | None = None
    if query.count == "exact":
        total = exact_count(conn, query, count_cache)
    elif query.count == "estimated":
        total = estimated_count(conn, query)
    # one validation pass for the whole page (the rows are typed by the database already)
    return MoviePage.model_validate(
        {"items": rows, "total": total, "count": query.count, "next_cursor": next_cursor}
    )


_GET_MOVIE = (
    sql.SQL("SELECT {fields} FROM movies m WHERE m.id = %(id)s")
    .format(fields=_SELECT_LIST)
    .as_bytes()
)


def get_movie(conn: psycopg.Connection, movie_id: int) -> Movie | None:
    """One movie by id, or None."""
    if not 1 <= movie_id <= INT8_MAX:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_GET_MOVIE, {"id": movie_id}).fetchone()
    return Movie.model_validate(row) if row is not None else None
