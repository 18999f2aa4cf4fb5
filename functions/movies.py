"""GET /movies (the listing: filters, sorts, pages, cursors, counts) and GET /movies/{id}.

Thin: the query string is validated into `MovieQuery` (a bad parameter is a 422 in the one error
shape), `functions.core.catalogue` does the reading on a pooled connection.

The query string is validated by `MovieQuery` directly rather than through FastAPI's
query-parameter model support, which re-inspects the model's annotations on every request
(about 0.6 ms, more than the database work of a page); the OpenAPI parameters are generated from
the same model, so the documentation and the validation cannot drift apart.

The catalogue version and the count cache are read inside the endpoint rather than as FastAPI
dependencies: FastAPI runs each sync dependency in the threadpool of its own, and a threadpool
hop costs about 0.1 ms of CPU under uvicorn, as much as the whole of a page's own Python work.
The endpoint itself runs in the threadpool, once per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError, field_validator

from functions import telemetry
from functions.core.catalogue.counts import count_cache, observe_count_cache
from functions.core.catalogue.query import Movie, MoviePage, MovieQuery
from functions.core.catalogue.search import get_movie, page_json, search_page
from functions.core.limits import INT8_MAX
from functions.core.replicas import read_connection
from functions.web import error_responses, lambda_handler
from functions.web.caching import cache_headers, catalogue_version, etag, not_modified
from functions.web.links import link
from functions.web.parameters import IntegerText, integer_text

router = APIRouter(tags=["Movies"])


# What the validators of `MovieQuery` check, as JSON Schema says it, where a keyword can: no NUL
# in a text parameter (PostgreSQL text cannot hold one), and `q` blank (no filter) or with three
# letters or digits in a row (`\w` less `_`, as Unicode has them). The rules across parameters or
# against what only the service knows (year_to >= year_from, a cursor it issued, a language name
# it knows) are in the descriptions, and answered with a 422.
# tests/unit/test_listing_schema.py checks that these patterns and the validators agree.
NO_NUL = r"^[^\x00]*$"
VALIDATOR_RULES: dict[str, dict[str, Any]] = {
    "language": {"pattern": NO_NUL},
    "spoken_language": {"pattern": NO_NUL},
    "q": {"pattern": r"^(?:\s*|[^\x00]*[^\W_]{3}[^\x00]*)$"},
    "cursor": {"pattern": NO_NUL},
}


def _query_parameters(model: type[MovieQuery]) -> list[dict[str, Any]]:
    """OpenAPI query parameters from the model's JSON schema (nullable = may be left out)."""
    parameters = []
    for name, schema in model.model_json_schema()["properties"].items():
        schema = {**schema, **VALIDATOR_RULES.get(name, {})}
        description = schema.pop("description", None)
        schema.pop("title", None)
        if "anyOf" in schema:
            (schema_of_value,) = [s for s in schema.pop("anyOf") if s.get("type") != "null"]
            schema = {**schema_of_value, **schema}
            if schema.get("default", 0) is None:
                del schema["default"]
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        if description:
            parameter["description"] = description
        parameter["schema"] = schema
        parameters.append(parameter)
    return parameters


INTEGER_PARAMETERS = tuple(
    name for name, field in MovieQuery.model_fields.items() if field.annotation in (int, int | None)
)


class WireMovieQuery(MovieQuery):
    """`MovieQuery` read from a query string: its integers as the document writes them."""

    @field_validator(*INTEGER_PARAMETERS, mode="before")
    @classmethod
    def _integer_text(cls, value: object) -> object:
        return integer_text(value)


def movie_query(request: Request) -> MovieQuery:
    try:
        return WireMovieQuery.model_validate(dict(request.query_params))
    except ValidationError as e:
        errors = [
            {**error, "loc": ("query", *error["loc"])}
            for error in e.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from e


def _json(body: bytes, tag: str) -> Response:
    return Response(body, media_type="application/json", headers=cache_headers(tag))


# GET /movies -> the next page (`next_cursor`, sent with the same filters and sort), a movie
PAGE_LINKS = {
    "next": link(
        "GET /movies",
        "The next page: `next_cursor` with the same filters and sort.",
        cursor="$response.body#/next_cursor",
        **{
            name: f"$request.query.{name}"
            for name in MovieQuery.model_fields
            if name not in ("page", "cursor")
        },
    ),
    "movie": link(
        "GET /movies/{movie_id}", "The page's first movie.", movie_id="$response.body#/items/0/id"
    ),
}

CACHED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is the current one."},
}


@router.get(
    "/movies",
    summary="List movies: filter, sort, paginate",
    response_model=MoviePage,
    responses={200: {"links": PAGE_LINKS}, **CACHED, **error_responses(422, 503)},
    openapi_extra={"parameters": _query_parameters(MovieQuery)},
)
def list_movies(request: Request) -> Response:
    """The v1-compatible listing (`page`, `page_size`, `release_year`, `language`, `sort_by`,
    `sort_order` -> `{items, total}`) and more: `spoken_language`, `year_from`/`year_to`,
    `genre_id`, `min_votes`, `q`, `count`, and `cursor` for keyset pagination.

    Every order ends with `id` and puts NULLs last, so paging never repeats or skips a movie.
    Deep in the listing, follow `next_cursor` (fast at any depth) rather than a large `page`.
    A cursor works only with the filters and sort it was made for; an altered cursor is a 422.

    Cacheable: a strong `ETag` (the catalogue version and the request) and `Cache-Control`;
    `If-None-Match` with the current tag answers 304 without running the query.
    """
    version = catalogue_version()
    query = movie_query(request)
    tag = etag(request, version)
    if (unchanged := not_modified(request, tag)) is not None:
        return unchanged
    with read_connection() as conn:
        page = search_page(conn, query, count_cache=count_cache())
    # the page's JSON written from the database's values: what `MoviePage` (its response model,
    # in the document) would write, without building and validating it first
    return _json(page_json(page), tag)


@router.get(
    "/movies/{movie_id}",
    summary="One movie",
    response_model=Movie,
    responses={**CACHED, **error_responses(404, 422, 503)},
)
def read_movie(
    request: Request,
    movie_id: Annotated[int, Path(ge=1, le=INT8_MAX), IntegerText],
) -> Response:
    tag = etag(request, catalogue_version())
    if (unchanged := not_modified(request, tag)) is not None:
        return unchanged
    with read_connection() as conn:
        movie = get_movie(conn, movie_id)
    if movie is None:
        raise HTTPException(status_code=404, detail=f"no movie with id {movie_id}")
    return _json(movie.model_dump_json().encode(), tag)


handler = lambda_handler(router)
observe_count_cache(telemetry.record_count_lookup)  # on Lambda, its metrics (EMF) count them
