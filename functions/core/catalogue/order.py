"""The listing's orders, as stretches that one index range scan each answers.

Every order keeps NULLs last in both directions and ends with `id`, so it is total and walking
the pages returns each movie once. A B-tree holds one order, and read backwards it puts its NULLs
first; so instead of one index per direction, an order over a nullable column is two stretches:
the movies with a value (`release_date IS NOT NULL`, by `(release_date, id)`, forwards or
backwards in the one index), then the movies without one (by `id`, from a small partial index).
A page or a cursor reads the first stretch and continues into the next when it runs out.

`vote_average` is the exception: as in the original system, its ties go to the better-known film
first (`vote_count DESC`) in both directions, which no single index holds both ways. Its two
orders are each one stretch over NOT NULL sort keys (a NULL becomes a sentinel beyond the range
of the values: 11 or -1 for a rating, 1 or -1 for a vote count), with an index of its own.

The keys are SQL expressions over `movies m`; the indexes of
functions/core/schema/migrations/0007_index_economy.sql are built on exactly these expressions
(the planner matches them by their form).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from functions.core.catalogue.columns import SORT_COLUMNS, SortBy, SortOrder

# The original system's order when the request names no sort: newest first.
DEFAULT_SORT_BY: Final[SortBy] = "release_date"
DEFAULT_SORT_ORDER: Final[SortOrder] = "desc"


@dataclass(frozen=True)
class SortKey:
    expression: str  # SQL over `movies m`, never NULL within its stretch
    sql_type: str  # the type of its values (a cursor's values are cast to it)


@dataclass(frozen=True)
class Stretch:
    """Part of an order: the movies `condition` selects (all when None), by `keys` (the last
    one `m.id`), all in the order's one direction."""

    condition: str | None
    keys: tuple[SortKey, ...]


ID = SortKey("m.id", "bigint")

# vote_average's orders (see the module's docstring): the rating, then the better-known first.
_VOTE_AVERAGE_KEYS = {
    "asc": (
        SortKey("coalesce(m.vote_average, 11)", "real"),
        SortKey("coalesce(- m.vote_count, 1)", "integer"),
        ID,
    ),
    "desc": (
        SortKey("coalesce(m.vote_average, -1)", "real"),
        SortKey("coalesce(m.vote_count, -1)", "integer"),
        ID,
    ),
}


@cache
def stretches(sort_by: str, sort_order: str) -> tuple[Stretch, ...]:
    """The order `sort_by` `sort_order` as its stretches, first to last."""
    if sort_by == "id":
        return (Stretch(None, (ID,)),)
    if sort_by == "vote_average":
        return (Stretch(None, _VOTE_AVERAGE_KEYS[sort_order]),)
    sql_type, nullable = SORT_COLUMNS[sort_by]
    column = f"m.{sort_by}"
    if not nullable:
        return (Stretch(None, (SortKey(column, sql_type), ID)),)
    return (
        Stretch(f"{column} IS NOT NULL", (SortKey(column, sql_type), ID)),
        Stretch(f"{column} IS NULL", (ID,)),
    )
