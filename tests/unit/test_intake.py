"""What intake decides before storing anything: the content type and the header row (no I/O)."""

from __future__ import annotations

import pytest

from functions.core.catalogue.columns import MOVIE_COLUMNS
from functions.core.errors import InvalidCsvHeader, UnsupportedLineEndings
from functions.core.ingest.filenames import clean_filename
from functions.core.ingest.header import MAX_HEADER_CHARS, EmptyFile, HeaderTooLong, read_header
from functions.web.forms import NotCsv, check_csv_type

HEADER = ",".join(MOVIE_COLUMNS)


def chunks(data: bytes, size: int):
    return iter([data[i : i + size] for i in range(0, len(data), size)])


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_the_header_is_checked_from_the_first_bytes_only(size: int) -> None:
    data = (HEADER + "\r\n" + "x,y\r\n" * 10_000).encode()
    stream = chunks(data, size)
    head, layout = read_header(stream, "m.csv")
    assert len(head) < len(HEADER) + 2 + size
    assert head + b"".join(stream) == data  # nothing lost
    assert layout.width == len(MOVIE_COLUMNS)


def test_bom_blank_lines_and_extra_columns_are_fine() -> None:
    data = ("\ufeff\r\n" + HEADER + ",extra\n").encode()
    _, layout = read_header(chunks(data, 3), "m.csv")
    assert layout.ignored_columns == ("extra",)


def test_a_quoted_header_spanning_lines_is_read_whole() -> None:
    data = (HEADER + ',"multi\nline"\r\nrow\r\n').encode()
    _, layout = read_header(chunks(data, 4), "m.csv")
    assert layout.ignored_columns == ("multi\nline",)


def test_a_header_only_file_is_valid() -> None:
    _, layout = read_header(iter([HEADER.encode()]), "m.csv")
    assert layout.width == len(MOVIE_COLUMNS)


def test_a_wrong_header_names_what_is_missing() -> None:
    with pytest.raises(InvalidCsvHeader) as caught:
        read_header(iter([b"title,year\nA,1\n"]), "m.csv")
    assert "languages" in caught.value.missing


def test_an_endless_first_line_is_not_read_forever() -> None:
    endless = iter([b"a" * 65536] * 100)
    with pytest.raises(HeaderTooLong) as caught:
        read_header(endless, "m.csv")
    assert caught.value.max_chars == MAX_HEADER_CHARS
    assert next(endless, None) is not None  # stopped early


def test_a_too_long_header_in_one_large_chunk_is_refused_too() -> None:
    data = (HEADER + ",x" * MAX_HEADER_CHARS + "\r\n").encode()
    with pytest.raises(HeaderTooLong):
        read_header(iter([data]), "m.csv")


class Counted:
    """1-byte chunks of `data`, counting how many were taken."""

    def __init__(self, data: bytes) -> None:
        self.data, self.taken = data, 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> bytes:
        if self.taken >= len(self.data):
            raise StopIteration
        self.taken += 1
        return self.data[self.taken - 1 : self.taken]


def test_a_slow_drip_first_line_is_refused_once_it_is_too_long() -> None:
    drip = Counted(b"a" * 200_000 + b"\n")
    with pytest.raises(HeaderTooLong):
        read_header(drip, "m.csv")
    assert drip.taken == MAX_HEADER_CHARS + 1  # each byte taken once, none after the limit


def test_a_long_header_in_one_byte_chunks_is_read_in_one_pass() -> None:
    extra = ",".join(f"extra{i}" for i in range(5000))  # about 44,000 characters
    data = (HEADER + "," + extra + "\r\n" + "x,y\r\n" * 100).encode()
    drip = Counted(data)
    head, layout = read_header(drip, "m.csv")
    assert len(layout.ignored_columns) == 5000
    assert drip.taken == len(HEADER + "," + extra) + 2  # stopped at the end of the header
    assert head == data[: drip.taken]


@pytest.mark.parametrize("blank", ["   \n", " \r\n", "\t\n", "\n \t \r\n\r\n"])
@pytest.mark.parametrize("size", [1, 1000])
def test_whitespace_lines_before_the_header_are_skipped(blank: str, size: int) -> None:
    data = (blank + HEADER + "\r\nx,y\r\n").encode()
    head, layout = read_header(chunks(data, size), "m.csv")
    assert layout.width == len(MOVIE_COLUMNS)
    assert data.startswith(head)


@pytest.mark.parametrize("size", [1, 1000])
def test_cr_only_line_endings_are_refused(size: int) -> None:
    data = (HEADER + "\rx,y\rz,w\r").encode()
    with pytest.raises(UnsupportedLineEndings):
        read_header(chunks(data, size), "m.csv")


def test_a_cr_inside_a_quoted_header_field_is_not_a_line_ending() -> None:
    data = (HEADER + ',"a\rb"\r\n').encode()
    _, layout = read_header(chunks(data, 1), "m.csv")
    assert layout.ignored_columns == ("a\rb",)


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"   "])
def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(EmptyFile):
        read_header(iter([data]), "m.csv")


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("m.csv", "text/csv"),
        ("m.csv", "text/csv; charset=utf-8"),
        ("whatever", "application/csv"),
        ("m.CSV", "application/octet-stream"),
        ("m.csv", None),
        ("m.csv", "application/vnd.ms-excel"),
        ("m.txt", "text/plain"),
    ],
)
def test_csv_is_recognised(filename: str, content_type: str | None) -> None:
    check_csv_type(filename, content_type)


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("m.pdf", "application/pdf"),
        ("m.csv", "image/png"),
        ("m.xlsx", "application/octet-stream"),
        (None, None),
    ],
)
def test_other_files_are_not_csv(filename: str | None, content_type: str | None) -> None:
    with pytest.raises(NotCsv):
        check_csv_type(filename, content_type)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\me\\films.csv", "films.csv"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("x" * 300 + ".csv", "x" * 255),
    ],
)
def test_file_names_lose_any_directory_part(given: str | None, kept: str) -> None:
    assert clean_filename(given) == kept
