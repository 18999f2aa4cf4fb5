"""What intake decides before storing anything: the content type and the header row (no I/O)."""

from __future__ import annotations

import pytest

from functions.core.catalogue.columns import MOVIE_COLUMNS
from functions.core.errors import InvalidCsvHeader
from functions.core.ingest.filenames import clean_filename
from functions.core.ingest.header import HEADER_PEEK_BYTES, EmptyFile, read_header
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
    endless = iter([b"a" * 65536] * (HEADER_PEEK_BYTES // 65536 + 10))
    with pytest.raises(InvalidCsvHeader):
        read_header(endless, "m.csv")
    assert next(endless, None) is not None  # stopped early


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
