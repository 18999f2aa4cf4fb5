"""The one CSV header reader for files arriving as a stream: it reads just enough of the first
bytes to find the header row and check it, before anything is stored."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

from functions.core.errors import MovieDbError
from functions.core.ingest.parsing import CsvLayout, read_layout

HEADER_PEEK_BYTES = 1024 * 1024  # read no further looking for the end of the header row
MAX_HEADER_CHARS = 64 * 1024  # a movie header is a few hundred characters


@dataclass
class EmptyFile(MovieDbError):
    filename: str | None

    def __str__(self) -> str:
        return f"the file {self.filename!r} is empty"


def _header_end(text: str) -> int | None:
    """Where the first non-blank record of `text` ends (a newline outside quotes), if it does."""
    quotes = 0
    start = 0
    for index, char in enumerate(text):
        if char == '"':
            quotes += 1
        elif char == "\n" and quotes % 2 == 0:
            if text[start:index].strip():
                return index
            start = index + 1
    return None


def read_header(chunks: Iterator[bytes], filename: str | None) -> tuple[bytes, CsvLayout]:
    """Read just enough of the stream to check the header row; return the bytes read."""
    buffer = bytearray()
    text = ""
    end: int | None = None
    for chunk in chunks:
        buffer += chunk
        text = buffer.decode("utf-8-sig", errors="replace")
        end = _header_end(text)
        if end is not None or len(buffer) > HEADER_PEEK_BYTES:
            break
    if not buffer.strip():
        raise EmptyFile(filename)
    header_text = (text if end is None else text[:end])[:MAX_HEADER_CHARS]
    record = next(csv.reader([header_text.strip("\r\n")], strict=False), [])
    return bytes(buffer), read_layout(record)  # raises InvalidCsvHeader
