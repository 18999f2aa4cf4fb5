"""The movie listing without a database: parameter validation, cursors, the SQL it builds."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from pydantic import ValidationError

from functions.core.catalogue.cursors import Position, decode_cursor, encode_cursor
from functions.core.catalogue.order import stretches
from functions.core.catalogue.query import MovieQuery
from functions.core.catalogue.statements import (
    count_statement,
    like_pattern,
    order_by,
    page_statement,
    stretch_count_statement,
)


def _query(**params: object) -> MovieQuery:
    return MovieQuery.model_validate(params)


def _cursor_for(query: MovieQuery, keys: tuple, movie_id: int, stretch: int = 0) -> str:
    position = Position(query.sort_by, query.sort_order, query.filter_key, stretch, keys, movie_id)
    return encode_cursor(position)


def _error(params: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as caught:
        MovieQuery.model_validate(params)
    return str(caught.value)


# --- parameters ---


def test_defaults_are_the_seeds_and_the_original_systems_order():
    query = _query()
    assert (query.page, query.page_size) == (1, 10)
    assert (query.sort_by, query.sort_order) == ("release_date", "desc")  # newest first
    assert query.count == "exact"
    assert query.offset == 0


def test_a_named_sort_keeps_its_meaning():
    assert (_query(sort_by="title").sort_by, _query(sort_by="title").sort_order) == (
        "title",
        "asc",
    )
    named = _query(sort_by="vote_count", sort_order="desc")
    assert (named.sort_by, named.sort_order) == ("vote_count", "desc")
    # only a direction: the default column in it
    assert (_query(sort_order="asc").sort_by, _query(sort_order="asc").sort_order) == (
        "release_date",
        "asc",
    )


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
    cursor = _cursor_for(query, (date(1995, 10, 30),), 42)
    position = decode_cursor(cursor)
    assert (position.stretch, position.keys, position.id) == (0, (date(1995, 10, 30),), 42)
    assert _query(sort_by="release_date", sort_order="desc", language="French", cursor=cursor)


def test_a_cursor_in_the_nulls_round_trips():
    query = _query(sort_by="revenue")
    position = decode_cursor(_cursor_for(query, (), 7, stretch=1))
    assert (position.stretch, position.keys, position.id) == (1, (), 7)


@pytest.mark.parametrize(
    ("sort_by", "stretch", "keys"),
    [
        ("revenue", 2, ()),  # revenue has two stretches
        ("revenue", 1, (5,)),  # the NULL stretch has no key but the id
        ("vote_average", 0, (7.5,)),  # rating and votes
        ("vote_average", 0, (12.0, 3)),  # beyond the sentinel
        ("title", 0, ("",)),
    ],
)
def test_a_signed_cursor_that_does_not_fit_its_order_is_refused(
    sort_by: str, stretch: int, keys: tuple
):
    cursor = _cursor_for(_query(sort_by=sort_by), keys, 3, stretch=stretch)
    assert "cursor is invalid" in _error({"sort_by": sort_by, "cursor": cursor})


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
    cursor = mangle(_cursor_for(query, (7.5, 120), 3))
    if not cursor:
        assert _query(sort_by="vote_average", sort_order="desc", cursor=cursor).after is None
        return
    message = _error({"sort_by": "vote_average", "sort_order": "desc", "cursor": cursor})
    assert "cursor" in message


def test_a_signed_cursor_with_a_value_of_the_wrong_type_is_refused():
    query = _query(sort_by="release_date")
    cursor = _cursor_for(query, ("not a date",), 3)
    assert "cursor is invalid" in _error({"sort_by": "release_date", "cursor": cursor})


def test_a_cursor_only_works_with_the_filters_and_sort_it_was_made_for():
    query = _query(sort_by="vote_average", sort_order="desc", release_year=2010)
    cursor = _cursor_for(query, (7.5, 120), 3)
    for other in (
        {"sort_by": "vote_average", "sort_order": "asc", "release_year": 2010},
        {"sort_by": "vote_count", "sort_order": "desc", "release_year": 2010},
        {"sort_by": "vote_average", "sort_order": "desc", "release_year": 2011},
        {"sort_by": "vote_average", "sort_order": "desc"},
    ):
        assert "another listing" in _error({**other, "cursor": cursor})


def test_a_cursor_and_a_page_number_do_not_go_together():
    query = _query()
    cursor = _cursor_for(query, (date(2000, 1, 1),), 10)
    assert "either page or cursor" in _error({"page": 2, "cursor": cursor})


def test_a_cursor_signed_with_another_secret_is_refused(monkeypatch: pytest.MonkeyPatch):
    from functions.core.config import get_settings

    query = _query()
    cursor = _cursor_for(query, (date(2000, 1, 1),), 10)
    monkeypatch.setenv("MOVIEDB_CURSOR_SECRET", "another secret")
    get_settings.cache_clear()
    try:
        assert "cursor is invalid" in _error({"cursor": cursor})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- SQL ---


def _orders(sort_by: str, sort_order: str) -> list[str]:
    return [order_by(stretch, sort_order).as_string() for stretch in stretches(sort_by, sort_order)]


def test_a_nullable_sort_is_its_values_then_its_nulls_each_ending_with_id():
    assert _orders("release_date", "asc") == ["m.release_date, m.id", "m.id"]
    assert _orders("release_date", "desc") == ["m.release_date DESC, m.id DESC", "m.id DESC"]
    conditions = [s.condition for s in stretches("revenue", "desc")]
    assert conditions == ["m.revenue IS NOT NULL", "m.revenue IS NULL"]
    # NOT NULL columns: one stretch, read forwards or backwards
    assert _orders("title", "desc") == ["m.title DESC, m.id DESC"]
    assert _orders("id", "asc") == ["m.id"]


def test_vote_average_ties_go_to_the_better_known_film_first_in_both_directions():
    # NOT NULL keys: an unrated film (or unknown vote count) gets a sentinel past the values
    assert _orders("vote_average", "asc") == [
        "coalesce(m.vote_average, 11), coalesce(- m.vote_count, 1), m.id"
    ]
    assert _orders("vote_average", "desc") == [
        "coalesce(m.vote_average, -1) DESC, coalesce(m.vote_count, -1) DESC, m.id DESC"
    ]


def test_the_order_expressions_are_those_the_indexes_are_built_on():
    from functions.core.schema import migrations_dir

    migration = (migrations_dir() / "0007_index_economy.sql").read_text()
    for sort_order in ("asc", "desc"):
        for key in stretches("vote_average", sort_order)[0].keys[:-1]:
            assert f"({key.expression.replace('m.', '')})" in migration


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
    cursor = _cursor_for(first, (7.5, 120), 3)
    query = _query(sort_by="vote_average", sort_order="desc", cursor=cursor)
    statement = page_statement(query, 11)
    text = statement.as_string()
    assert (
        "(coalesce(m.vote_average, -1), coalesce(m.vote_count, -1), m.id)"
        " < (%(after_0)s::real, %(after_1)s::integer, %(after_id)s)"
    ) in text
    assert "OFFSET" not in text
    assert (statement.params["after_0"], statement.params["after_1"]) == (7.5, 120)
    assert statement.params["after_id"] == 3


def test_a_cursor_inside_the_nulls_continues_by_id():
    first = _query(sort_by="revenue")
    query = _query(sort_by="revenue", cursor=_cursor_for(first, (), 30, stretch=1))
    text = page_statement(query, 11).as_string()
    assert "m.revenue IS NULL AND (m.id) > (%(after_id)s)" in text


def test_a_page_past_a_stretch_counts_that_stretch_to_skip_it():
    text = stretch_count_statement(_query(sort_by="vote_count", genre_id=18), 0).as_string()
    assert text == (
        "SELECT count(*) FROM movies m WHERE m.genre_id = %(genre_id)s AND m.vote_count IS NOT NULL"
    )
