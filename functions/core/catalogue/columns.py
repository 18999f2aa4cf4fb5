"""The catalogue's columns: what a movie has, what the listing may sort by, and their types."""

from __future__ import annotations

from typing import Literal

# The 15 columns of the source format, in the order staging and movies use them.
MOVIE_COLUMNS: tuple[str, ...] = (
    "title",
    "original_title",
    "original_language",
    "overview",
    "release_date",
    "budget",
    "revenue",
    "runtime",
    "status",
    "vote_average",
    "vote_count",
    "production_company_id",
    "genre_id",
    "homepage",
    "languages",
)
# The natural key: overlapping files update rather than duplicate (docs/data.md).
NATURAL_KEY: tuple[str, ...] = ("title", "release_date", "original_language")

SortBy = Literal["id", "release_date", "vote_average", "vote_count", "revenue", "title"]
SortOrder = Literal["asc", "desc"]


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
