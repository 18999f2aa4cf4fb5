"""Reading movie CSV files as they really come, one record at a time, and validating each row.

Pure: no database, no network. `MovieCsv` turns a binary stream into staging rows, each either a
normalised movie (values as PostgreSQL text, in `MOVIE_COLUMNS` order) or a rejection with the
line where its record starts, the column at fault and the reason.

Choices (docs/data.md): bytes that are not valid UTF-8, and NUL characters, are replaced with
U+FFFD rather than rejecting the row; `0` budget or revenue means unknown and is stored as NULL;
a `vote_average` of 0 with no votes is unrated (NULL); text is trimmed and empty means NULL.
"""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, BinaryIO

from functions.core.catalogue.columns import MOVIE_COLUMNS
from functions.core.errors import InvalidCsvHeader, UnsupportedLineEndings
from functions.core.limits import INT4_MAX, INT8_MAX

STAGING_COLUMNS: tuple[str, ...] = ("line", *MOVIE_COLUMNS)

MAX_TITLE_LENGTH = 500  # keeps the natural-key index entry well under PostgreSQL's limit
MAX_FIELD_CHARS = 1024 * 1024  # one field (e.g. an unterminated quote) can hold at most this
MAX_LANGUAGES_LITERAL = 10_000
MAX_LANGUAGE_NAME = 100  # each name is an entry of the languages GIN index (limit ~2.7 kB)
MAX_RAW_RECORD_CHARS = 4096  # of a rejected record, kept for the rejects download
# One line of the file is read whole only up to this: a longer line (a record of 15 fields of at
# most MAX_FIELD_CHARS each is shorter in any real file) rejects the record it is in, and reading
# resumes at the next line, so a 200 MB line costs 4 Mi characters of memory, not 200 MB twice.
MAX_LINE_CHARS = 4 * MAX_FIELD_CHARS

csv.field_size_limit(MAX_FIELD_CHARS)

StagingRow = list[object]  # [line, *values in MOVIE_COLUMNS order]


class RowError(Exception):
    """One field of one row is invalid."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


# --- field validators: value as read (may be empty) -> PostgreSQL text or None ---------------


# Values repeat a lot in real files (ids, runtimes, dates, money, language lists): the field
# validators are memoised, which roughly halves the cost of a row. Errors are not cached.
_memo = lru_cache(maxsize=8192)


@_memo
def whole_number(value: str, column: str, maximum: int = INT8_MAX) -> str | None:
    """A non-negative integer, also when written as a float (`5415.0`)."""
    if not value:
        return None
    if value.isdigit() and value.isascii():
        digits = value
    elif value.endswith(".0") and value[:-2].isdigit() and value.isascii():
        digits = value[:-2]
    else:
        try:
            number = float(value)
        except ValueError:
            raise RowError(column, f"not a number: {value!r}") from None
        if not number.is_integer():
            raise RowError(column, f"not a whole number: {value!r}")
        if number < 0:
            raise RowError(column, f"negative: {value!r}")
        digits = str(int(number))
    if len(digits) >= 10 and int(digits) > maximum:
        raise RowError(column, f"too large: {value!r}")
    return digits


@_memo
def money(value: str, column: str) -> str | None:
    """An amount in whole currency units; 0 means unknown in the source data."""
    amount = whole_number(value, column)
    if amount is None or amount.strip("0") == "":
        return None
    return amount


@_memo
def rating(value: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowError("vote_average", f"not a number: {value!r}") from None
    if not 0.0 <= number <= 10.0:  # also rejects nan
        raise RowError("vote_average", f"outside 0..10: {value!r}")
    # `real` refuses tiny values such as 1e-50; `+ 0.0` turns -0.0 into 0.0
    return round(number, 3) + 0.0


@_memo
def release_date(value: str) -> str | None:
    if not value:
        return None
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise RowError("release_date", f"not a YYYY-MM-DD date: {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise RowError("release_date", f"not a valid date: {value!r}") from None
    return value


def parse_languages(value: str) -> list[str]:
    """A Python list literal of names, e.g. `['English', 'Français']`, never evaluated as code.

    The common shape is split directly; anything else goes through `ast.literal_eval`, which
    only accepts literals.
    """
    if not value or value == "[]":
        return []
    if len(value) > MAX_LANGUAGES_LITERAL:
        raise RowError("languages", "list literal too long")
    if value.startswith("['") and value.endswith("']"):
        inner = value[2:-2]
        names = inner.split("', '")
        if "'" not in "".join(names) and "\\" not in inner:
            return _language_names(names)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise RowError("languages", f"not a list of names: {value[:80]!r}") from None
    if not isinstance(parsed, list | tuple) or not all(isinstance(n, str) for n in parsed):
        raise RowError("languages", f"not a list of names: {value[:80]!r}")
    return _language_names([_storable_name(name) for name in parsed])


def _storable_name(name: str) -> str:
    """A name written with escapes as text PostgreSQL can hold: a surrogate pair
    (`'\\ud83c\\udfac'`) becomes its character; a NUL or a lone surrogate is a RowError."""
    if "\x00" in name:
        raise RowError("languages", "a language name contains a NUL character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            name = name.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise RowError("languages", "a language name contains a lone surrogate") from None
    return name


def _language_names(names: Sequence[str]) -> list[str]:
    stripped = [name.strip() for name in names if name.strip()]
    if any(len(name) > MAX_LANGUAGE_NAME for name in stripped):
        raise RowError("languages", f"a language name longer than {MAX_LANGUAGE_NAME} characters")
    return stripped


@_memo
def languages_array(value: str) -> str:
    """The `languages` field as a PostgreSQL text[] literal."""
    return pg_text_array(parse_languages(value))


def pg_text_array(names: Sequence[str]) -> str:
    """A PostgreSQL array literal for text[]."""
    quoted = []
    for name in names:
        if "\\" in name or '"' in name:
            name = name.replace("\\", "\\\\").replace('"', '\\"')
        quoted.append(f'"{name}"')
    return "{" + ",".join(quoted) + "}"


# --- the header ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """Where each movie column sits in this file's records."""

    positions: tuple[int, ...]  # index in the record of each MOVIE_COLUMNS entry
    width: int  # fields per record
    ignored_columns: tuple[str, ...] = ()


def read_layout(header: Sequence[str]) -> CsvLayout:
    """Match columns by name (any order, case and surrounding spaces ignored)."""
    names = [name.strip().lower() for name in header]
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    missing = [column for column in MOVIE_COLUMNS if column not in names]
    if missing or duplicated or not header:
        raise InvalidCsvHeader(missing=missing, duplicated=duplicated)
    positions = tuple(names.index(column) for column in MOVIE_COLUMNS)
    ignored = tuple(header[i] for i, n in enumerate(names) if n not in MOVIE_COLUMNS)
    return CsvLayout(positions=positions, width=len(names), ignored_columns=ignored)


def make_normaliser(layout: CsvLayout) -> Callable[[list[str]], list[object]]:
    """A fast row validator for this layout: record fields -> MOVIE_COLUMNS values."""
    (
        i_title,
        i_original_title,
        i_language,
        i_overview,
        i_date,
        i_budget,
        i_revenue,
        i_runtime,
        i_status,
        i_rating,
        i_votes,
        i_company,
        i_genre,
        i_homepage,
        i_languages,
    ) = layout.positions

    def normalise(fields: list[str]) -> list[object]:
        title = fields[i_title].strip()
        if not title:
            raise RowError("title", "empty title")
        if len(title) > MAX_TITLE_LENGTH:
            raise RowError("title", f"longer than {MAX_TITLE_LENGTH} characters")
        language = fields[i_language].strip().lower() or None
        if language is not None and not (
            2 <= len(language) <= 3 and language.isascii() and language.isalpha()
        ):
            raise RowError("original_language", f"not a language code: {language[:20]!r}")
        votes = whole_number(fields[i_votes], "vote_count", INT4_MAX)
        average = rating(fields[i_rating])
        if average == 0.0 and votes in (None, "0"):
            average = None  # 0.0 with no votes: unrated, not rated zero
        return [
            title,
            fields[i_original_title].strip() or None,
            language,
            fields[i_overview].strip() or None,
            release_date(fields[i_date].strip()),
            money(fields[i_budget], "budget"),
            money(fields[i_revenue], "revenue"),
            whole_number(fields[i_runtime], "runtime", INT4_MAX),
            fields[i_status].strip() or None,
            average,
            votes,
            whole_number(fields[i_company], "production_company_id"),
            whole_number(fields[i_genre], "genre_id"),
            fields[i_homepage].strip() or None,
            languages_array(fields[i_languages].strip()),
        ]

    return normalise


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be loaded, and why."""

    line: int  # where the record starts in the file (the header is line 1)
    column: str | None
    reason: str
    raw_record: str  # capped: a longer record keeps its first MAX_RAW_RECORD_CHARS characters

    # the record's length when `raw_record` holds only its beginning (a line too long to read)
    raw_length: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        capped = capped_raw_record(self.raw_record, self.raw_length)
        object.__setattr__(self, "raw_record", capped)  # frozen


def capped_raw_record(raw: str, length: int | None = None) -> str:
    """The first MAX_RAW_RECORD_CHARS characters of `raw`, and a marker with its length (that
    of `raw`, or `length` when `raw` is the beginning of a longer record)."""
    length = len(raw) if length is None else length
    if length <= MAX_RAW_RECORD_CHARS:
        return raw
    return f"{raw[:MAX_RAW_RECORD_CHARS]}... [truncated: {length} characters]"


class LineTooLong(Exception):
    """A line of the file is longer than MAX_LINE_CHARS (raised through the CSV reader)."""

    def __init__(self, length: int) -> None:
        super().__init__(f"a line longer than {MAX_LINE_CHARS} characters ({length})")
        self.length = length


# --- the file --------------------------------------------------------------------------------


@dataclass
class ParseCounts:
    received: int = 0
    rejected: int = 0
    lines: int = 0


@dataclass
class MovieCsv:
    """A movie CSV read from a binary stream: the header first, then staging rows."""

    stream: BinaryIO | io.RawIOBase
    layout: CsvLayout = field(init=False)
    counts: ParseCounts = field(default_factory=ParseCounts)

    def __post_init__(self) -> None:
        source: Any = self.stream
        self._text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="replace", newline="")
        self._record_lines: list[str] = []
        self._reader = csv.reader(self._lines(), strict=False)
        self.layout = read_layout(self._header_record())

    def _header_record(self) -> list[str]:
        """The first record that is not blank or whitespace; [] when there is none."""
        while (record := self._next_header_record()) is not None:
            raw = "".join(self._record_lines)
            if raw.strip():
                if raw.endswith("\r"):  # CR-only line endings, as read_header refuses them
                    raise UnsupportedLineEndings()
                return record
        return []

    def _lines(self) -> Iterator[str]:
        """The file's lines, for the CSV reader; a line over MAX_LINE_CHARS raises LineTooLong
        once its beginning is in the record's lines (and the rest of it is read past)."""
        text, pending = self._text, self._record_lines
        while line := text.readline(MAX_LINE_CHARS + 1):
            if len(line) > MAX_LINE_CHARS:
                head, length = line[: MAX_RAW_RECORD_CHARS + 1], len(line)
                while not line.endswith("\n") and (line := text.readline(MAX_LINE_CHARS)):
                    length += len(line)
                pending.append(head.replace("\x00", "\ufffd"))
                raise LineTooLong(length)
            if "\x00" in line:
                line = line.replace("\x00", "\ufffd")
            pending.append(line)
            yield line

    def _next_header_record(self) -> list[str] | None:
        """The next non-blank record; None at the end of the file."""
        while True:
            self.counts.lines += len(self._record_lines)
            self._record_lines.clear()
            try:
                record = next(self._reader)
            except StopIteration:
                return None
            except LineTooLong:
                from functions.core.ingest.header import MAX_HEADER_CHARS, HeaderTooLong

                raise HeaderTooLong(MAX_HEADER_CHARS) from None
            if record:
                return record

    def rows(self) -> Iterator[StagingRow | Rejection]:
        """Each record in file order: a staging row when valid, a `Rejection` otherwise."""
        normalise = make_normaliser(self.layout)
        width = self.layout.width
        counts = self.counts
        pending = self._record_lines
        reader = self._reader
        while True:
            counts.lines += len(pending)
            pending.clear()
            line = counts.lines + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                counts.received += 1
                counts.rejected += 1
                yield Rejection(line, None, f"unreadable CSV record: {e}", "".join(pending))
                continue
            except LineTooLong as e:
                # the record is rejected; a new reader resumes at the next line (the one it was
                # in was closed by the exception)
                counts.received += 1
                counts.rejected += 1
                raw = "".join(pending)
                length = len(raw) - len(pending[-1]) + e.length
                yield Rejection(line, None, str(e), raw, raw_length=length)
                reader = self._reader = csv.reader(self._lines(), strict=False)
                continue
            if not fields:
                continue  # a blank line is not a record
            counts.received += 1
            try:
                if len(fields) != width:
                    raise RowError(None, f"expected {width} fields, found {len(fields)}")
                values = normalise(fields)
            except RowError as e:
                counts.rejected += 1
                yield Rejection(line, e.column, e.reason, "".join(pending))
                continue
            yield [line, *values]
