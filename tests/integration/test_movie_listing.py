"""The movie listing on a real PostgreSQL: orders, filters, pages, cursors, counts, the HTTP and
Lambda doors (GET /api/v1/movies, GET /api/v1/movies/{id})."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest
from fastapi.testclient import TestClient

from functions.core.catalogue.columns import SORT_COLUMNS
from functions.core.catalogue.counts import CountCache, count_cache, exact_count
from functions.core.catalogue.query import MoviePage, MovieQuery
from functions.core.catalogue.search import get_movie, page_json, search_movies, search_page
from functions.core.catalogue.version import advance_catalogue_version
from tests.api_support import api_env, client  # noqa: F401 (fixtures)

EVENTS = Path(__file__).resolve().parents[1] / "events"
LATIN_P_RUSSIAN = "P\u0443\u0441\u0441\u043a\u0438\u0439"
CYRILLIC_RUSSIAN = "\u0420\u0443\u0441\u0441\u043a\u0438\u0439"
SORTS = ("id", *SORT_COLUMNS)

MOVIES = 120


def _catalogue() -> list[dict[str, Any]]:
    """Movies with many ties and NULLs in every sortable column, several languages."""
    rows = []
    languages = [
        ("en", ["English"]),
        ("fr", ["Français", "English"]),
        ("ru", [LATIN_P_RUSSIAN]),
        ("ja", ["日本語"]),
        ("en", []),
    ]
    for n in range(MOVIES):
        lang, spoken = languages[n % len(languages)]
        rows.append(
            {
                "title": f"title {n % 40:03d}" + (" love story" if n % 9 == 0 else ""),
                "original_language": lang,
                "release_date": None if n % 11 == 0 else date(1990, 1, 1) + timedelta(n % 7 * 200),
                "revenue": None if n % 3 else 1000 * (n % 4 + 1),
                "vote_average": None if n % 5 == 0 else (n % 6) + 0.5,
                "vote_count": None if n % 13 == 0 else n % 8 * 10,
                "genre_id": 18 if n % 2 else 35,
                "languages": spoken,
            }
        )
    return rows


@pytest.fixture
def movies_db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO movies (title, original_language, release_date, revenue, "
                "vote_average, vote_count, genre_id, languages) VALUES (%(title)s, "
                "%(original_language)s, %(release_date)s, %(revenue)s, %(vote_average)s, "
                "%(vote_count)s, %(genre_id)s, %(languages)s)",
                _catalogue(),
            )
        yield conn


def _expected_ids(
    conn: psycopg.Connection, sort_by: str, order: str, where: str = "true"
) -> list[int]:
    """The listing's order computed in Python: values sorted, ties by id, NULLs last; ties of
    vote_average first by vote_count, highest first (NULL last), in both directions."""
    column = "id" if sort_by == "id" else sort_by
    rows = conn.execute(f"SELECT {column}, id, vote_count FROM movies WHERE {where}").fetchall()
    desc = order == "desc"

    def tie_break(row: tuple) -> tuple:
        if sort_by != "vote_average":
            return (row[1],)
        votes = row[2]  # highest first, unknown last, whichever the direction
        better_known_first = (votes is None, -(votes or 0))
        if desc:
            better_known_first = (votes is not None, votes or 0)
        return (*better_known_first, row[1])

    valued = sorted(
        (r for r in rows if r[0] is not None), key=lambda r: (r[0], *tie_break(r)), reverse=desc
    )
    nulls = sorted((r for r in rows if r[0] is None), key=tie_break, reverse=desc)
    return [r[1] for r in valued + nulls]


def _walk_pages(conn: psycopg.Connection, params: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    for page in itertools.count(1):
        result = search_movies(conn, MovieQuery(**params, page=page, count="none"))
        ids += [m.id for m in result.items]
        if not result.items:
            return ids


def _walk_cursor(conn: psycopg.Connection, params: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        result = search_movies(conn, MovieQuery(**params, cursor=cursor, count="none"))
        ids += [m.id for m in result.items]
        if result.next_cursor is None:
            return ids
        cursor = result.next_cursor


FILTER_SETS: list[tuple[dict[str, Any], str]] = [
    ({}, "true"),
    ({"language": "French"}, "original_language = 'fr'"),
    (
        {"genre_id": 18, "year_from": 1990, "year_to": 1992},
        "genre_id = 18 AND release_year <= 1992",
    ),
]


@pytest.mark.parametrize(("filters", "where"), FILTER_SETS)
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORTS)
def test_walking_every_page_returns_each_matching_movie_once_in_order(
    movies_db: psycopg.Connection, sort_by: str, order: str, filters: dict, where: str
):
    expected = _expected_ids(movies_db, sort_by, order, where)
    assert expected, "the filter matches something"
    params = {**filters, "sort_by": sort_by, "sort_order": order, "page_size": 7}
    assert _walk_pages(movies_db, params) == expected
    assert _walk_cursor(movies_db, params) == expected


def test_the_last_page_has_no_next_cursor_and_a_full_page_before_it_has_one(
    movies_db: psycopg.Connection,
):
    last = search_movies(movies_db, MovieQuery(page=12, page_size=10))
    assert len(last.items) == 10
    assert last.next_cursor is None
    before = search_movies(movies_db, MovieQuery(page=11, page_size=10))
    assert before.next_cursor is not None


def test_without_a_sort_the_listing_is_the_original_systems_newest_first(
    movies_db: psycopg.Connection,
):
    newest_first = _expected_ids(movies_db, "release_date", "desc")
    assert _walk_pages(movies_db, {"page_size": 9}) == newest_first
    assert _walk_cursor(movies_db, {"page_size": 9}) == newest_first


def test_vote_average_ties_put_the_better_known_film_first(movies_db: psycopg.Connection):
    for order in ("asc", "desc"):
        page = search_movies(
            movies_db, MovieQuery(sort_by="vote_average", sort_order=order, page_size=100)
        )
        rated = [m for m in page.items if m.vote_average is not None]
        for before, after in itertools.pairwise(rated):
            if before.vote_average == after.vote_average:
                assert (before.vote_count or -1) >= (after.vote_count or -1), order


def test_a_page_cursor_continues_where_the_page_ended(movies_db: psycopg.Connection):
    params = {"sort_by": "vote_average", "sort_order": "desc", "page_size": 10}
    page_3 = search_movies(movies_db, MovieQuery(**params, page=3))
    page_4 = search_movies(movies_db, MovieQuery(**params, page=4))
    by_cursor = search_movies(movies_db, MovieQuery(**params, cursor=page_3.next_cursor))
    assert [m.id for m in by_cursor.items] == [m.id for m in page_4.items]


def test_spoken_language_matches_any_spelling_and_the_code(movies_db: psycopg.Connection):
    expected = {
        r[0] for r in movies_db.execute("SELECT id FROM movies WHERE original_language = 'ru'")
    }
    for given in (LATIN_P_RUSSIAN, CYRILLIC_RUSSIAN, "Russian", "ru"):
        page = search_movies(movies_db, MovieQuery(spoken_language=given, page_size=100))
        assert {m.id for m in page.items} == expected, given
        assert page.total == len(expected)


def test_language_takes_codes_and_names_in_english_or_native(movies_db: psycopg.Connection):
    totals = {
        given: search_movies(movies_db, MovieQuery(language=given)).total
        for given in ("fr", "French", "Français", "FRANÇAIS")
    }
    assert set(totals.values()) == {MOVIES // 5}


def test_title_search_is_a_case_insensitive_substring_with_literal_wildcards(
    movies_db: psycopg.Connection,
):
    page = search_movies(movies_db, MovieQuery(q="LOVE sto", page_size=100))
    assert page.total == len([n for n in range(MOVIES) if n % 9 == 0])
    assert all("love story" in m.title for m in page.items)
    assert search_movies(movies_db, MovieQuery(q="tit_e")).total == 0


def test_year_and_vote_filters(movies_db: psycopg.Connection):
    page = search_movies(movies_db, MovieQuery(release_year=1990, min_votes=30, page_size=100))
    assert page.items
    assert all(m.release_year == 1990 and (m.vote_count or 0) >= 30 for m in page.items)
    (expected,) = movies_db.execute(
        "SELECT count(*) FROM movies WHERE release_year = 1990 AND vote_count >= 30"
    ).fetchone()
    assert page.total == expected


def test_counts_exact_estimated_and_none(movies_db: psycopg.Connection):
    movies_db.execute("ANALYZE movies")
    assert search_movies(movies_db, MovieQuery()).total == MOVIES
    estimated = search_movies(movies_db, MovieQuery(count="estimated", language="fr"))
    assert estimated.count == "estimated"
    assert 0 < estimated.total <= MOVIES
    assert search_movies(movies_db, MovieQuery(count="estimated")).total == MOVIES
    assert search_movies(movies_db, MovieQuery(count="none")).total is None


def test_the_exact_count_is_reused_until_the_catalogue_changes(movies_db: psycopg.Connection):
    query = MovieQuery(language="en")
    cache = CountCache(ttl=300)
    before = exact_count(movies_db, query, cache)
    movies_db.execute("INSERT INTO movies (title, original_language) VALUES ('new one', 'en')")
    assert exact_count(movies_db, query, cache) == before  # cached: not counted again
    assert exact_count(movies_db, query, cache=None) == before + 1
    movies_db.execute(
        "INSERT INTO uploads (id, filename, source, status, finished_at) "
        "VALUES (%s, 'x.csv', 'cli', 'failed', now())",
        (uuid.uuid4(),),
    )
    cache.version_check_seconds = 0.0  # the next look at the catalogue's version: now
    assert exact_count(movies_db, query, cache) == before  # a failed upload changes nothing
    advance_catalogue_version(movies_db)  # what every publish and revert does
    assert exact_count(movies_db, query, cache) == before + 1


def test_a_page_and_its_total_come_from_the_same_catalogue_version(
    movies_db: psycopg.Connection,
):
    # a process that would not look at the catalogue's version again for an hour
    cache = CountCache(ttl=300, version_check_seconds=3600)
    query = MovieQuery(language="en", page_size=100, sort_by="id", sort_order="desc")
    before = search_movies(movies_db, query, count_cache=cache)
    movies_db.execute("INSERT INTO movies (title, original_language) VALUES ('new one', 'en')")
    advance_catalogue_version(movies_db)  # what the publish does in its transaction
    after = search_movies(movies_db, query, count_cache=cache)
    assert after.items[0].title == "new one"  # the page reads the new catalogue
    assert after.total == before.total + 1  # and so does its total, at once


def test_get_movie(movies_db: psycopg.Connection):
    movie = get_movie(movies_db, 1)
    assert movie is not None
    assert movie.title == "title 000 love story"
    assert get_movie(movies_db, 10_000) is None


# --- through HTTP -------------------------------------------------------------------------


@pytest.fixture
def http(movies_db: psycopg.Connection, client: TestClient) -> TestClient:  # noqa: F811
    return client


def test_the_seed_request_form_answers_items_and_total(http: TestClient):
    response = http.get("/api/v1/movies?page=1&page_size=10&sort_by=release_date&sort_order=desc")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == MOVIES
    assert len(body["items"]) == 10
    dates = [item["release_date"] for item in body["items"]]
    assert dates == sorted(dates, reverse=True)
    item = body["items"][0]
    seed_fields = {
        "title", "original_title", "original_language", "overview", "release_date", "budget",
        "revenue", "runtime", "status", "vote_average", "vote_count", "production_company_id",
        "genre_id", "homepage", "languages",
    }  # fmt: skip
    assert seed_fields | {"id", "release_year"} == set(item)
    assert item["release_year"] == int(item["release_date"][:4])


def test_the_page_is_the_json_its_response_model_writes(clean_db: str, client: TestClient):  # noqa: F811
    """The listing writes its JSON from the database's values without building `MoviePage`:
    the bytes must be the model's, for every kind of value a movie can hold."""
    awkward = [
        ('Quote " backslash \\ tab \t newline \n bell \x07 del \x7f', 7.7, 10**15, ["日本語"]),
        ("Emoji 🎬 \u2028 line sep, Ünïcödé, Русский", 0.1, None, []),
        ("Rated ten", 10.0, 1, ["English", "Français", "P\u0443\u0441\u0441\u043a\u0438\u0439"]),
        ("Unrated", None, None, ["</script>"]),
        ("Third", 1 / 3, 9_223_372_036_854_775_807, ["a,b", "{x}"]),
    ]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for n, (title, rating, budget, spoken) in enumerate(awkward):
            conn.execute(
                "INSERT INTO movies (title, original_title, overview, release_date, budget,"
                " runtime, status, vote_average, vote_count, production_company_id, genre_id,"
                " homepage, languages) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    title,
                    title if n % 2 else None,
                    f"{title}\r\n",
                    None if n == 3 else date(1999, 12, n + 1),
                    budget,
                    n or None,
                    "Released",
                    rating,
                    n * 1000 or None,
                    n,
                    18 + n,
                    "http://example.com/?a=1&b=<2>",
                    spoken,
                ),
            )
        for params in (
            {"page_size": 100},
            {"sort_by": "vote_average", "page_size": 2},
            {"q": "ünï"},
        ):
            query = MovieQuery.model_validate(params)
            page = search_page(conn, query, count_cache=count_cache())  # as the endpoint
            assert page_json(page) == MoviePage.model_validate(page).model_dump_json().encode()
            url = "/api/v1/movies?" + "&".join(f"{k}={v}" for k, v in params.items())
            assert client.get(url).content == page_json(page)
        page = search_page(conn, MovieQuery(page_size=100))
        assert len(page["items"]) == len(awkward)
        assert page == MoviePage.model_validate(page).model_dump()


def test_following_next_cursor_over_http_reaches_every_movie(http: TestClient):
    url = "/api/v1/movies?sort_by=vote_average&sort_order=desc&page_size=25&count=none"
    seen: list[int] = []
    next_url = url
    while next_url:
        body = http.get(next_url).json()
        seen += [item["id"] for item in body["items"]]
        next_url = f"{url}&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert sorted(seen) == list(range(1, MOVIES + 1))


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("page=0", "page"),
        ("page_size=101", "page_size"),
        ("sort_by=popularity", "sort_by"),
        ("sort_order=sideways", "sort_order"),
        ("release_year=nineteen-ninety", "release_year"),
        ("year_from=2000&year_to=1999", "year_to"),
        ("language=Klingon", "language"),
        ("q=ab", "q"),
        ("count=maybe", "count"),
        ("cursor=not-a-cursor", "cursor"),
        ("page=%202", "page"),  # not an integer as the document writes one (pydantic: 2)
        ("min_votes=10%0B", "min_votes"),
        ("q=%00abc", "q"),
    ],
)
def test_bad_parameters_answer_422_in_the_one_error_shape(http: TestClient, query: str, names):
    response = http.get(f"/api/v1/movies?{query}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert names in error["message"]


def test_a_tampered_or_misused_cursor_answers_422(http: TestClient):
    body = http.get("/api/v1/movies?sort_by=title&page_size=5").json()
    cursor = body["next_cursor"]
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for query in (
        f"sort_by=title&cursor={flipped}",
        f"sort_by=title&sort_order=desc&cursor={cursor}",
        f"sort_by=title&language=fr&cursor={cursor}",
        f"sort_by=title&page=2&cursor={cursor}",
    ):
        response = http.get(f"/api/v1/movies?{query}")
        assert response.status_code == 422, query
        assert "cursor" in response.json()["error"]["message"]
    assert http.get(f"/api/v1/movies?sort_by=title&cursor={cursor}").status_code == 200


def test_one_movie_by_id_and_404_for_an_unknown_one(http: TestClient):
    assert http.get("/api/v1/movies/3").json()["id"] == 3
    response = http.get("/api/v1/movies/100000")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no movie with id 100000"
    assert http.get("/api/v1/movies/abc").status_code == 422
    assert http.get("/api/v1/movies/0").status_code == 422
    assert http.get("/api/v1/movies/3%0B").status_code == 422  # not "3" to pydantic's lax int


def test_openapi_documents_the_listing_parameters_and_errors(http: TestClient):
    operation = http.get("/openapi.json").json()["paths"]["/api/v1/movies"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"page", "page_size", "release_year", "language", "sort_by", "sort_order"} <= names
    assert {"spoken_language", "year_from", "year_to", "genre_id", "min_votes", "q"} <= names
    assert {"cursor", "count"} <= names
    assert "422" in operation["responses"]


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_q_is_no_filter_and_valid_by_the_schema(http: TestClient, value: str):
    operation = http.get("/openapi.json").json()["paths"]["/api/v1/movies"]["get"]
    (q,) = [p for p in operation["parameters"] if p["name"] == "q"]
    jsonschema.validate(value, q["schema"])  # what the documentation admits ...
    everything = http.get("/api/v1/movies").json()
    response = http.get("/api/v1/movies", params={"q": value})
    assert response.status_code == 200  # ... the code accepts, as no filter
    assert response.json()["total"] == everything["total"]
    assert "empty" in q["description"]


# --- through the Lambda handler -----------------------------------------------------------


def _invoke(event_file: str) -> dict[str, Any]:
    from functions.movies import handler

    event = json.loads((EVENTS / event_file).read_text())
    return handler(event, None)


def test_lambda_listing_with_the_seed_parameters_and_a_language_name(
    movies_db: psycopg.Connection,
    api_env: Path,  # noqa: F811
):
    (expected,) = movies_db.execute(
        "SELECT count(*) FROM movies WHERE original_language = 'fr' AND release_year = 1990"
    ).fetchone()
    answer = _invoke("movies_list.json")  # language=Français&release_year=1990&sort_by=vote...
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert body["total"] == expected > 0
    assert {item["original_language"] for item in body["items"]} == {"fr"}
    averages = [item["vote_average"] for item in body["items"]]
    valued = [a for a in averages if a is not None]
    assert valued == sorted(valued, reverse=True)
    assert averages == valued + [None] * (len(averages) - len(valued))


def test_lambda_bad_page_and_one_movie(movies_db: psycopg.Connection, api_env: Path):  # noqa: F811
    answer = _invoke("movies_bad_page.json")
    assert answer["statusCode"] == 422
    assert json.loads(answer["body"])["error"]["code"] == "invalid_request"
    answer = _invoke("movie_by_id.json")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["id"] == 1
