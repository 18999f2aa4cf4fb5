"""The movie listing without a database: parameter validation, cursors, the SQL it builds."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from pydantic import ValidationError

from functions.core.catalogue.cursors import Position, decode_cursor, encode_cursor
from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.statements import (
    count_statement,
    like_pattern,
    nulls_statement,
    order_by,
    page_statement,
)


def _query(**params: object) -> MovieQuery:
    return MovieQuery.model_validate(params)


def _cursor_for(query: MovieQuery, value: object, movie_id: int) -> str:
    position = Position(query.sort_by, query.sort_order, query.filter_key, value, movie_id)
    return encode_cursor(position)


def _error(params: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        MovieQuery.model_validate(params)
    return str(caught.value)


# --- parameters ---


def test_defaults_are_the_seeds():
    query = _query()
    assert (query.page, query.page_size, query.sort_by, query.sort_order) == (1, 10, "id", "asc")
    assert query.count == "exact"
    assert query.offset == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": 0}, "greater than or equal to 1"),
        ({"page_size": 101}, "less than or equal to 100"),
        ({"page_size": 0}, "greater than or equal to 1"),
        ({"sort_by": "budget"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"release_year": "nineteen"}, "valid integer"),
        ({"year_from": 2000, "year_to": 1990}, "year_to (1990) is before year_from (2000)"),
        ({"language": "Klingon"}, "unknown language"),
        ({"q": "ab"}, "at least 3"),
        ({"q": "%%%"}, "3 letters or digits"),
        ({"count": "roughly"}, "count"),
        ({"min_votes": -1}, "greater than or equal to 0"),
        ({"q": "love\x00story"}, "NUL"),
        ({"spoken_language": "Fran\x00"}, "NUL"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(params: dict, message: str):
    assert message in _error(params)


def test_language_names_become_codes():
    assert _query(language="Français").language == "fr"
    assert _query(language="german").language == "de"


def test_blank_text_parameters_mean_no_filter():
    query = _query(language=" ", spoken_language="", q="   ")
    assert (query.language, query.spoken_language, query.q) == (None, None, None)


# --- cursors ---


def test_a_cursor_round_trips_its_position():
    query = _query(sort_by="release_date", sort_order="desc", language="fr")
    cursor = _cursor_for(query, date(1995, 10, 30), 42)
    position = decode_cursor(cursor)
    assert position.value == date(1995, 10, 30)
    assert position.id == 42
    assert _query(sort_by="release_date", sort_order="desc", language="French", cursor=cursor)


def test_a_cursor_in_the_nulls_round_trips():
    query = _query(sort_by="vote_average")
    position = decode_cursor(_cursor_for(query, None, 7))
    assert (position.value, position.id) == (None, 7)


def _tamper(cursor: str) -> str:
    body, signature = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload[-1] += 1  # another movie id
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


@pytest.mark.parametrize(
    "mangle",
    [
        _tamper,
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: c.replace(".", ""),
        lambda c: c + ".x",
        lambda c: "!!!." + c.split(".")[1],
        lambda c: "",
        lambda c: "é" * 20,
        lambda c: c * 30,
    ],
)
def test_an_altered_cursor_is_refused(mangle):
    query = _query(sort_by="vote_average", sort_order="desc")
    cursor = mangle(_cursor_for(query, 7.5, 3))
    if not cursor:
        assert _query(sort_by="vote_average", sort_order="desc", cursor=cursor).after is None
        return
    message = _error({"sort_by": "vote_average", "sort_order": "desc", "cursor": cursor})
    assert "cursor" in message


def test_a_signed_cursor_with_a_value_of_the_wrong_type_is_refused():
    query = _query(sort_by="release_date")
    cursor = _cursor_for(query, "not a date", 3)
    assert "cursor is invalid" in _error({"sort_by": "release_date", "cursor": cursor})


def test_a_cursor_only_works_with_the_filters_and_sort_it_was_made_for():
    query = _query(sort_by="vote_average", sort_order="desc", release_year=2010)
    cursor = _cursor_for(query, 7.5, 3)
    for other in (
        {"sort_by": "vote_average", "sort_order": "asc", "release_year": 2010},
        {"sort_by": "vote_count", "sort_order": "desc", "release_year": 2010},
        {"sort_by": "vote_average", "sort_order": "desc", "release_year": 2011},
        {"sort_by": "vote_average", "sort_order": "desc"},
    ):
        assert "another listing" in _error({**other, "cursor": cursor})


def test_a_cursor_and_a_page_number_do_not_go_together():
    query = _query()
    cursor = _cursor_for(query, None, 10)
    assert "either page or cursor" in _error({"page": 2, "cursor": cursor})


def test_a_cursor_signed_with_another_secret_is_refused(monkeypatch: pytest.MonkeyPatch):
    from functions.core.config import get_settings

    query = _query()
    cursor = _cursor_for(query, None, 10)
    monkeypatch.setenv("MOVIEDB_CURSOR_SECRET", "another secret")
    get_settings.cache_clear()
    try:
        assert "cursor is invalid" in _error({"cursor": cursor})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- SQL ---


def test_every_order_puts_nulls_last_and_ends_with_id():
    assert order_by("vote_average", "desc").as_string() == (
        '"m"."vote_average" DESC NULLS LAST, m.id DESC'
    )
    assert order_by("release_date", "asc").as_string() == (
        '"m"."release_date" ASC NULLS LAST, m.id ASC'
    )
    # NOT NULL columns keep a plain order, which a backward index scan can serve
    assert order_by("title", "desc").as_string() == '"m"."title" DESC, m.id DESC'
    assert order_by("id", "asc").as_string() == "m.id ASC"


def test_years_become_release_date_ranges():
    statement = count_statement(_query(release_year=1995))
    assert "m.release_date >= %(date_low)s" in statement.as_string()
    assert statement.params == {"date_low": date(1995, 1, 1), "date_high": date(1996, 1, 1)}
    statement = count_statement(_query(year_from=1990, year_to=1999, release_year=1995))
    assert statement.params == {"date_low": date(1995, 1, 1), "date_high": date(1996, 1, 1)}
    statement = count_statement(_query(year_to=9999))
    assert statement.params == {"date_low": date(1, 1, 1)}


def test_filters_are_parameters_never_sql_text():
    query = _query(
        language="fr",
        spoken_language="'; DROP TABLE movies; --",
        q="x'); DROP TABLE movies; --",
        genre_id=18,
        min_votes=10,
    )
    statement = page_statement(query, 11)
    text = statement.as_string()
    assert "DROP" not in text
    assert statement.params["spoken"] == ["'; DROP TABLE movies; --"]
    assert statement.params["language"] == "fr"
    assert statement.params["genre_id"] == 18
    assert statement.params["min_votes"] == 10


def test_title_search_takes_wildcards_literally():
    assert like_pattern("100% pure_love\\") == "%100\\% pure\\_love\\\\%"


def test_a_deep_page_finds_its_ids_first_then_joins():
    statement = page_statement(_query(page=50_001, sort_by="release_date"), 11)
    text = statement.as_string()
    assert "SELECT m.id FROM movies m" in text
    assert ") page JOIN movies m ON m.id = page.id" in text
    assert statement.params["offset"] == 500_000


def test_a_cursor_page_seeks_past_the_last_row_with_a_typed_row_comparison():
    first = _query(sort_by="vote_average", sort_order="desc")
    query = _query(sort_by="vote_average", sort_order="desc", cursor=_cursor_for(first, 7.5, 3))
    statement = page_statement(query, 11)
    text = statement.as_string()
    assert '("m"."vote_average", m.id) < (%(after_value)s::real, %(after_id)s)' in text
    assert "OFFSET" not in text
    assert (statement.params["after_value"], statement.params["after_id"]) == (7.5, 3)
    nulls = nulls_statement(query, 5).as_string()
    assert '"m"."vote_average" IS NULL' in nulls


def test_a_cursor_inside_the_nulls_continues_by_id():
    first = _query(sort_by="revenue")
    query = _query(sort_by="revenue", cursor=_cursor_for(first, None, 30))
    text = page_statement(query, 11).as_string()
    assert '"m"."revenue" IS NULL AND m.id > %(after_id)s' in text
