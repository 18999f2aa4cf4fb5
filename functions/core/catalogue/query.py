"""The listing's request and answer: `MovieQuery` (the API's query parameters, validated and
typed), `Movie` and `MoviePage`. Invalid values raise pydantic's ValidationError (a 422)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from functions.core.catalogue.columns import SortBy, SortOrder
from functions.core.catalogue.cursors import MAX_CURSOR_LENGTH, Position, decode_cursor
from functions.core.catalogue.languages import language_code, spoken_names
from functions.core.catalogue.order import DEFAULT_SORT_BY, DEFAULT_SORT_ORDER
from functions.core.limits import INT4_MAX, INT8_MAX

CountMode = Literal["exact", "estimated", "none"]

MAX_PAGE = 10_000_000
MAX_PAGE_SIZE = 100
MIN_YEAR, MAX_YEAR = 1, 9999
_WORD = re.compile(r"[^\W_]{3}")


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
        max_length=200,
        description="Words in the title (case-insensitive substring), with at least 3 letters "
        "or digits in a row; empty (or only spaces) means no filter.",
        examples=["story"],
    )
    sort_by: SortBy = Field(
        DEFAULT_SORT_BY,
        description="Sort column. Not given: `release_date` newest first, as the original API. "
        "Ties are broken by id; `vote_average` ties first by `vote_count`, highest first.",
    )
    sort_order: SortOrder = Field(
        DEFAULT_SORT_ORDER,
        description="`desc` when `sort_by` is not given either, else `asc`. NULLs come last "
        "in both orders.",
    )
    count: CountMode = Field(
        "exact", description="`exact` (cached briefly), `estimated` (planner) or `none`."
    )
    cursor: str | None = Field(
        None,
        max_length=MAX_CURSOR_LENGTH,
        description="`next_cursor` of the previous page: keyset pagination, fast at any depth. "
        "Send the same filters and sort with it; do not combine it with `page`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_order(cls, data: Any) -> Any:
        # No sort named: the original system's order (newest first). A named sort_by keeps
        # this service's default direction, ascending.
        if not isinstance(data, dict):
            return data
        data = {
            name: value
            for name, value in data.items()
            if value is not None or name not in ("sort_by", "sort_order")
        }
        if "sort_order" not in data:
            data["sort_order"] = "asc" if "sort_by" in data else DEFAULT_SORT_ORDER
        return data

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
        # the fields as they are (plain values: what model_dump would give, at a tenth the cost)
        return _fingerprint({name: getattr(self, name) for name in _FILTER_FIELDS})


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
