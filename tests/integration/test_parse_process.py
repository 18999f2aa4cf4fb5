"""The parse of a large file in a child process (functions/core/ingest/parse_process.py): the same
rows, rejections and header errors as `MovieCsv` in this process, and a file that is not read to
its end is an error, never a shorter file. Real child processes; the last test runs the whole
pipeline through one."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pytest

from functions.core.config import get_settings
from functions.core.errors import InvalidCsvHeader, UnsupportedLineEndings
from functions.core.ingest.intake import ingest_local_file
from functions.core.ingest.parse_process import ParserProcess, ParserProcessFailed
from functions.core.ingest.parsing import MAX_LINE_CHARS, MovieCsv, Rejection
from tests.movie_files import HEADER, movie_rows

MIXED = (
    HEADER
    + movie_rows(5)
    + "1.0,too,few,fields\r\n"
    + "\r\n"  # a blank line is not a record
    + movie_rows(1, prefix="Bad").replace("6.5", "11")  # vote_average outside 0..10
    + "x" * (MAX_LINE_CHARS + 10)  # a line too long to read
    + "\r\n"
    + movie_rows(4, start=5)
    + movie_rows(2)  # repeats of the first two
)


def in_process(data: bytes) -> tuple[bytes, list[Rejection]]:
    """The file's accepted rows as psycopg formats them for COPY, and its rejections."""
    from psycopg._copy_base import TextFormatter
    from psycopg.adapt import Transformer

    formatter, copy_text, rejections = TextFormatter(Transformer()), bytearray(), []
    for record in MovieCsv(io.BytesIO(data)).rows():
        if isinstance(record, Rejection):
            rejections.append(record)
        else:
            copy_text += formatter.write_row(record)
    return bytes(copy_text + formatter.end()), rejections


def in_child(data: bytes, chunk_rows: int) -> tuple[bytes, list[Rejection], list[int]]:
    copy_text, rejections, sizes = b"", [], []
    with ParserProcess(io.BytesIO(data), chunk_rows) as parser:
        for rows, rejected, records in parser.chunks():
            assert isinstance(rows, bytes)
            copy_text += rows
            rejections += rejected
            sizes.append(records)
    return copy_text, rejections, sizes


def test_the_child_reads_a_file_as_movie_csv_does() -> None:
    data = MIXED.encode()
    copy_text, rejections = in_process(data)
    assert len(rejections) == 3 and copy_text.count(b"\n") == 11  # rows and rejections both
    assert in_child(data, chunk_rows=4) == (copy_text, rejections, [4, 4, 4, 2])


def test_the_layout_and_its_ignored_columns_come_from_the_child() -> None:
    data = ("extra," + HEADER).encode()
    with ParserProcess(io.BytesIO(data), 10) as parser:
        assert parser.layout == MovieCsv(io.BytesIO(data)).layout
        assert parser.layout.ignored_columns == ("extra",)
        assert list(parser.chunks()) == []


def test_a_header_error_is_raised_here_as_in_process() -> None:
    missing = b"title,budget\r\nA,1\r\n"
    with pytest.raises(InvalidCsvHeader) as in_child_error, ParserProcess(io.BytesIO(missing), 10):
        pass
    with pytest.raises(InvalidCsvHeader) as in_process_error:
        MovieCsv(io.BytesIO(missing))
    assert in_child_error.value == in_process_error.value
    assert "original_title" in in_child_error.value.missing

    cr_only = HEADER.replace("\r\n", "\r").encode() + b"x\r"
    with pytest.raises(UnsupportedLineEndings), ParserProcess(io.BytesIO(cr_only), 10):
        pass


class FailingStream(io.RawIOBase):
    """A stored file whose reading fails after `good` bytes (a storage error mid-file)."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data, self._good, self._at = data, good, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._at >= self._good:
            raise OSError("connection reset while reading the stored file")
        block = self._data[self._at : min(self._good, self._at + max(size, 1))]
        self._at += len(block)
        return block


def test_a_stream_that_fails_mid_file_fails_the_parse_not_a_shorter_file() -> None:
    data = (HEADER + movie_rows(5_000)).encode()
    stream = FailingStream(data, len(data) // 2)
    with pytest.raises(OSError, match="connection reset"), ParserProcess(stream, 100) as parser:
        for _ in parser.chunks():
            pass


def test_a_child_that_dies_mid_file_is_an_error() -> None:
    data = (HEADER + movie_rows(50_000)).encode()
    with (
        pytest.raises(ParserProcessFailed, match="ended early"),
        ParserProcess(io.BytesIO(data), 100) as parser,
    ):
        for _ in parser.chunks():
            parser._child.kill()


def test_an_upload_parsed_in_a_child_loads_as_one_parsed_here(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.core.ingest import pipeline

    started = []

    class Recorded(ParserProcess):
        def __enter__(self) -> ParserProcess:
            started.append(self)
            return super().__enter__()

    monkeypatch.setattr(pipeline, "ParserProcess", Recorded)
    path = tmp_path / "mixed.csv"
    path.write_bytes(MIXED.encode())
    outcomes = []
    for threshold in ("", "0"):  # never in a child, then always
        conn.execute(
            "TRUNCATE movies, movie_changes, upload_rejections, uploads RESTART IDENTITY CASCADE"
        )
        monkeypatch.setenv("MOVIEDB_PARSER_PROCESS_MIN_BYTES", threshold)
        get_settings.cache_clear()
        upload = ingest_local_file(path, max_error_rate=None).upload
        outcomes.append(
            (
                (upload.status, upload.received, upload.inserted, upload.updated),
                (upload.unchanged, upload.rejected),
                conn.execute(
                    "SELECT id, title, vote_average, vote_count FROM movies ORDER BY id"
                ).fetchall(),
                conn.execute(
                    "SELECT line, column_name, reason FROM upload_rejections ORDER BY line"
                ).fetchall(),
            )
        )
    get_settings.cache_clear()
    assert len(started) == 1  # the second run only
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == ("completed", 14, 9, 0) and outcomes[0][1] == (2, 3)
