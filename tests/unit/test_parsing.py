"""CSV reading and row validation, without a database."""

from __future__ import annotations

import io
import math

import pytest

from functions.core.catalogue.columns import MOVIE_COLUMNS
from functions.core.errors import InvalidCsvHeader, UnsupportedLineEndings
from functions.core.ingest.header import HeaderTooLong
from functions.core.ingest.parsing import (
    MAX_LINE_CHARS,
    MAX_RAW_RECORD_CHARS,
    MovieCsv,
    Rejection,
    RowError,
    money,
    parse_languages,
    pg_text_array,
    rating,
    release_date,
    whole_number,
)
from tests.conftest import SAMPLE_CSV
from tests.movie_files import HEADER as TEST_FILE_HEADER

HEADER = TEST_FILE_HEADER.rstrip("\r\n")
GOOD = "30000000.0,,en,Toy Story,A film,1995-10-30,373554033.0,81,Released,Toy Story,7.7,5415.0,3,16,['English']"


def parse(text: str | bytes) -> tuple[list[list[object]], list[Rejection], MovieCsv]:
    data = text.encode() if isinstance(text, str) else text
    movie_csv = MovieCsv(io.BytesIO(data))
    rows: list[list[object]] = []
    rejections: list[Rejection] = []
    for item in movie_csv.rows():
        (rejections if isinstance(item, Rejection) else rows).append(item)  # type: ignore[arg-type]
    return rows, rejections, movie_csv


def as_dict(row: list[object]) -> dict[str, object]:
    return dict(zip(("line", *MOVIE_COLUMNS), row, strict=True))


def test_real_sample_rows_all_parse_with_crlf_and_quoted_fields() -> None:
    rows, rejections, movie_csv = parse(SAMPLE_CSV.read_bytes())
    assert rejections == []
    assert len(rows) == 10
    assert movie_csv.counts.received == 10
    toy_story = as_dict(rows[0])
    assert toy_story["line"] == 2
    assert toy_story["title"] == "Toy Story"
    assert toy_story["budget"] == "30000000"
    assert toy_story["vote_count"] == "5415"
    assert toy_story["runtime"] == "81"
    assert toy_story["vote_average"] == 7.7
    assert toy_story["languages"] == '{"English"}'
    goldeneye = as_dict(rows[9])
    assert goldeneye["languages"] == '{"English","Pусский","Español"}'
    grumpier = as_dict(rows[2])
    assert grumpier["budget"] is None and grumpier["revenue"] is None  # 0.0 means unknown


def test_columns_in_any_order_are_matched_by_name_and_extras_reported() -> None:
    fields = HEADER.split(",")
    values = GOOD.split(",")
    assert len(fields) == len(values)
    header = ",".join(["extra", *(f" {name.upper()} " for name in reversed(fields))])
    line = ",".join(["x", *reversed(values)])
    rows, rejections, movie_csv = parse(header + "\n" + line + "\n")
    assert rejections == []
    assert as_dict(rows[0])["title"] == "Toy Story"
    assert movie_csv.layout.ignored_columns == ("extra",)


def test_missing_columns_fail_the_whole_file_naming_them() -> None:
    header = ",".join(c for c in HEADER.split(",") if c not in ("title", "vote_count"))
    with pytest.raises(InvalidCsvHeader) as error:
        parse(header + "\n")
    assert error.value.missing == ["title", "vote_count"]
    assert "title" in str(error.value) and "vote_count" in str(error.value)


def test_duplicated_column_fails_the_whole_file() -> None:
    with pytest.raises(InvalidCsvHeader, match="duplicated columns: title"):
        parse(HEADER + ",title\n")


def test_empty_file_fails_as_a_missing_header() -> None:
    with pytest.raises(InvalidCsvHeader) as error:
        parse(b"")
    assert error.value.missing == list(MOVIE_COLUMNS)


def test_utf8_bom_and_lf_line_endings_are_accepted() -> None:
    rows, rejections, _ = parse(b"\xef\xbb\xbf" + (HEADER + "\n" + GOOD + "\n").encode())
    assert rejections == [] and len(rows) == 1


@pytest.mark.parametrize("blank", ["   \n", " \r\n", "\t\n", "\n \t \r\n"])
def test_whitespace_lines_before_the_header_are_skipped(blank: str) -> None:
    rows, rejections, _ = parse(blank + HEADER + "\n" + GOOD + "\n")
    assert rejections == []
    assert rows[0][0] == 2 + blank.count("\n")  # line numbers still count the skipped lines


def test_cr_only_line_endings_are_refused_as_a_whole() -> None:
    with pytest.raises(UnsupportedLineEndings):
        parse(HEADER + "\r" + GOOD + "\r")


def test_quoted_newlines_keep_line_numbers_of_record_starts() -> None:
    multi = GOOD.replace("A film", '"A film\nover two, lines with ""quotes"""')
    bad = GOOD.replace("7.7", "eleven")
    rows, rejections, movie_csv = parse(HEADER + "\r\n" + multi + "\r\n" + bad + "\r\n" + GOOD)
    assert as_dict(rows[0])["overview"] == 'A film\nover two, lines with "quotes"'
    assert [r[0] for r in rows] == [2, 5]
    assert rejections[0].line == 4
    assert rejections[0].column == "vote_average"
    assert movie_csv.counts.received == 3


def test_wrong_number_of_fields_is_rejected_with_its_raw_record() -> None:
    short = GOOD.rsplit(",", 1)[0]
    rows, rejections, _ = parse(HEADER + "\n" + short + "\n" + GOOD + "\n")
    assert len(rows) == 1
    assert rejections[0].line == 2
    assert rejections[0].reason == "expected 15 fields, found 14"
    assert rejections[0].raw_record == short + "\n"


def test_raw_record_of_a_rejection_is_capped_with_its_original_length() -> None:
    huge = GOOD.replace("A film", "x" * 10_000).replace("7.7", "eleven")
    _, rejections, _ = parse(HEADER + "\n" + huge + "\n")
    raw = rejections[0].raw_record
    prefix = (huge + "\n")[:MAX_RAW_RECORD_CHARS]
    assert raw == prefix + f"... [truncated: {len(huge) + 1} characters]"


def test_raw_record_at_the_cap_is_kept_whole() -> None:
    short = GOOD.rsplit(",", 1)[0]
    exact = short.replace("A film", "x" * (MAX_RAW_RECORD_CHARS - len(short) - 1 + 6)) + "\n"
    assert len(exact) == MAX_RAW_RECORD_CHARS
    _, rejections, _ = parse(HEADER + "\n" + exact)
    assert rejections[0].raw_record == exact


def test_unterminated_quote_keeps_only_a_prefix_of_the_rest_of_the_file() -> None:
    opened = GOOD.replace("A film", '"A film')
    _, rejections, _ = parse(HEADER + "\n" + opened + ("\n" + GOOD) * 200)
    assert len(rejections) == 1
    raw = rejections[0].raw_record
    assert raw.startswith(opened) and raw.endswith(" characters]")
    assert len(raw) < MAX_RAW_RECORD_CHARS + 50


def test_a_line_too_long_to_read_rejects_its_record_and_reading_goes_on() -> None:
    long_line = "x" * (MAX_LINE_CHARS + 10) + "\x00,y\n"
    rows, rejections, movie_csv = parse(HEADER + "\n" + GOOD + "\n" + long_line + GOOD + "\n")
    assert [row[0] for row in rows] == [2, 4]
    (rejected,) = rejections
    assert rejected.line == 3 and rejected.column is None
    assert rejected.reason == f"a line longer than {MAX_LINE_CHARS} characters ({len(long_line)})"
    marker = f"... [truncated: {len(long_line)} characters]"
    assert rejected.raw_record == "x" * MAX_RAW_RECORD_CHARS + marker
    assert movie_csv.counts.received == 3 and movie_csv.counts.rejected == 1


def test_a_line_too_long_inside_a_quoted_record_rejects_that_record_only() -> None:
    opened = GOOD.replace("A film", '"A film\nthat goes on')
    long_line = "z" * (MAX_LINE_CHARS + 1)  # the last line, with no line break
    text = HEADER + "\n" + opened + "\n" + long_line + "\n" + GOOD + "\n" + GOOD
    rows, rejections, _ = parse(text)
    (rejected,) = rejections
    assert rejected.line == 2
    assert rejected.raw_record.startswith(opened.split("\n")[0])
    length = len(opened) + 1 + len(long_line) + 1
    assert rejected.raw_record.endswith(f"... [truncated: {length} characters]")
    assert [row[0] for row in rows] == [5, 6]


def test_a_header_line_too_long_to_read_is_header_too_long() -> None:
    with pytest.raises(HeaderTooLong):
        parse("b" * (MAX_LINE_CHARS + 1) + "\n" + GOOD + "\n")


def test_blank_lines_are_not_records() -> None:
    rows, rejections, movie_csv = parse(HEADER + "\n\n" + GOOD + "\n\n")
    assert len(rows) == 1 and rejections == []
    assert rows[0][0] == 3
    assert movie_csv.counts.received == 1


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        (("Toy Story,7.7", ",7.7"), "title", "empty title"),
        (("7.7", "10.5"), "vote_average", "outside 0..10"),
        (("7.7", "nan"), "vote_average", "outside 0..10"),
        (("5415.0", "-3"), "vote_count", "negative"),
        (("5415.0", "many"), "vote_count", "not a number"),
        (("5415.0", "12.5"), "vote_count", "not a whole number"),
        ((",81,", ",-81,"), "runtime", "negative"),
        (("1995-10-30", "30/10/1995"), "release_date", "not a YYYY-MM-DD date"),
        (("1995-10-30", "1995-02-30"), "release_date", "not a valid date"),
        (("30000000.0", "lots"), "budget", "not a number"),
        (("['English']", "English"), "languages", "not a list of names"),
        (("['English']", "\"__import__('os')\""), "languages", "not a list of names"),
        ((",en,", ",english,"), "original_language", "not a language code"),
        ((",en,", ",é,"), "original_language", "not a language code"),
        (("['English']", "['" + "E" * 3000 + "']"), "languages", "longer than 100"),
    ],
)
def test_each_kind_of_bad_value_is_rejected_with_column_and_reason(
    change: tuple[str, str], column: str, reason: str
) -> None:
    old, new = change
    rows, rejections, _ = parse(HEADER + "\n" + GOOD.replace(old, new, 1) + "\n")
    assert rows == []
    assert rejections[0].column == column
    assert reason in rejections[0].reason


def test_negative_vote_count_written_as_float_is_rejected() -> None:
    with pytest.raises(RowError, match="negative"):
        whole_number("-3.0", "vote_count")


def test_title_longer_than_the_key_limit_is_rejected() -> None:
    _, rejections, _ = parse(
        HEADER + "\n" + GOOD.replace(",Toy Story,7.7", ",T" + "x" * 600 + ",7.7")
    )
    assert rejections[0].column == "title" and "longer than" in rejections[0].reason


def test_stray_non_utf8_bytes_are_replaced_not_fatal() -> None:
    data = (HEADER + "\n").encode() + GOOD.replace("A film", "Caf\xe9").encode("latin-1") + b"\n"
    rows, rejections, _ = parse(data)
    assert rejections == []
    assert as_dict(rows[0])["overview"] == "Caf\ufffd"


def test_nul_characters_are_replaced() -> None:
    rows, _, _ = parse(HEADER + "\n" + GOOD.replace("A film", "A\x00film") + "\n")
    assert as_dict(rows[0])["overview"] == "A\ufffdfilm"


def test_unterminated_quote_is_a_rejection_not_a_crash() -> None:
    rows, rejections, movie_csv = parse(
        HEADER + "\n" + GOOD + "\n" + GOOD.replace("A film", '"A film')
    )
    assert len(rows) == 1
    assert len(rejections) == 1 and rejections[0].line == 3
    assert movie_csv.counts.received == 2


def test_zero_rating_without_votes_is_unrated_but_with_votes_is_zero() -> None:
    unrated = GOOD.replace("7.7,5415.0", "0.0,0.0")
    rated_zero = GOOD.replace("7.7,5415.0", "0.0,12.0").replace("Toy Story,0", "Other,0")
    rows, _, _ = parse(HEADER + "\n" + unrated + "\n" + rated_zero + "\n")
    assert as_dict(rows[0])["vote_average"] is None
    assert as_dict(rows[1])["vote_average"] == 0.0


@pytest.mark.parametrize(
    ("literal", "names"),
    [
        ("['English']", ["English"]),
        ("['English', 'Français']", ["English", "Français"]),
        ("[]", []),
        ("", []),
        ("[\"Kiswahili's\", 'English']", ["Kiswahili's", "English"]),
        ("['Pусский', '日本語']", ["Pусский", "日本語"]),
    ],
)
def test_languages_list_literals_parse_without_eval(literal: str, names: list[str]) -> None:
    assert parse_languages(literal) == names


def test_languages_that_are_not_strings_are_rejected() -> None:
    with pytest.raises(RowError):
        parse_languages("[1, 2]")


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("['En\\x00glish']", "NUL"),
        ("['En\\u0000glish']", "NUL"),
        ("['\\ud800']", "lone surrogate"),
        ("['English', '\\udfac']", "lone surrogate"),
    ],
)
def test_languages_escaping_a_nul_or_a_lone_surrogate_reject_only_that_row(
    literal: str, reason: str
) -> None:
    bad = GOOD.replace("['English']", f'"{literal}"')
    rows, rejections, _ = parse(HEADER + "\n" + bad + "\n" + GOOD.replace("Toy", "Boy") + "\n")
    assert [as_dict(r)["title"] for r in rows] == ["Boy Story"]
    assert [(r.line, r.column) for r in rejections] == [(2, "languages")]
    assert reason in rejections[0].reason


def test_languages_escaping_a_surrogate_pair_is_the_character_it_encodes() -> None:
    assert parse_languages("['\\ud83c\\udfac', 'English']") == ["\U0001f3ac", "English"]
    rows, rejections, _ = parse(HEADER + "\n" + GOOD.replace("['English']", "['\\ud83c\\udfac']"))
    assert rejections == []
    assert as_dict(rows[0])["languages"] == '{"\U0001f3ac"}'


def test_text_array_literal_escapes_quotes_and_backslashes() -> None:
    assert pg_text_array(['a"b', "c\\d", "e f"]) == '{"a\\"b","c\\\\d","e f"}'


def test_number_and_date_helpers() -> None:
    assert whole_number("5415.0", "c") == "5415"
    assert whole_number("81", "c") == "81"
    assert whole_number("", "c") is None
    assert money("0.0", "budget") is None
    assert money("00", "budget") is None
    assert rating("") is None
    assert release_date("") is None
    with pytest.raises(RowError, match="too large"):
        whole_number("3000000000", "runtime", 2**31 - 1)


@pytest.mark.parametrize("value", ["-0.0", "-0", "-0e5"])
def test_a_negative_zero_rating_is_zero(value: str) -> None:
    average = rating(value)
    assert average == 0.0 and math.copysign(1.0, average) == 1.0  # type: ignore[arg-type]
    rated = GOOD.replace("7.7", value)
    rows, _, _ = parse(HEADER + "\n" + rated + "\n")
    assert str(as_dict(rows[0])["vote_average"]) == "0.0"


def test_a_rating_too_small_for_postgresql_real_is_rounded() -> None:
    assert rating("1e-50") == 0.0
    assert rating("7.7") == 7.7
