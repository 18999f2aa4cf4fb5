"""GET /movies (the listing: filters, sorts, pages, cursors, counts) and GET /movies/{id}.

Thin: the query parameters are validated into `MovieQuery` (a bad one is a 422 in the one error
shape), `functions.core.queries` does the reading on a connection from the process-wide pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from functions.core.db import get_pool
from functions.core.queries import INT8_MAX, Movie, MoviePage, MovieQuery, get_movie, search_movies
from functions.web import error_responses, lambda_handler

router = APIRouter(tags=["Movies"])


@router.get(
    "/movies",
    summary="List movies: filter, sort, paginate",
    responses=error_responses(422, 503),
)
def list_movies(query: Annotated[MovieQuery, Query()]) -> MoviePage:
    """The seed's listing (`page`, `page_size`, `release_year`, `language`, `sort_by`,
    `sort_order` -> `{items, total}`) and more: `spoken_language`, `year_from`/`year_to`,
    `genre_id`, `min_votes`, `q`, `count`, and `cursor` for keyset pagination.

    Every order ends with `id` and puts NULLs last, so paging never repeats or skips a movie.
    Deep in the listing, follow `next_cursor` (fast at any depth) rather than a large `page`.
    A cursor works only with the filters and sort it was made for; an altered cursor is a 422.
    """
    with get_pool().connection() as conn:
        return search_movies(conn, query)


@router.get(
    "/movies/{movie_id}",
    summary="One movie",
    responses=error_responses(404, 422, 503),
)
def read_movie(movie_id: Annotated[int, Path(ge=1, le=INT8_MAX)]) -> Movie:
    with get_pool().connection() as conn:
        movie = get_movie(conn, movie_id)
    if movie is None:
        raise HTTPException(status_code=404, detail=f"no movie with id {movie_id}")
    return movie


handler = lambda_handler(router)
