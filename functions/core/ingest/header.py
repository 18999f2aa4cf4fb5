"""The one CSV header reader for files arriving as a stream: it reads just enough of the first
bytes to find the header row and check it, before anything is stored.

Each byte is decoded and scanned once, however the stream is cut (a slow drip of 1-byte chunks
costs the same as one chunk), and no more than MAX_HEADER_CHARS characters are read looking for
the end of the header row.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass

from functions.core.errors import MovieDbError, UnsupportedLineEndings
from functions.core.ingest.parsing import CsvLayout, read_layout

MAX_HEADER_CHARS = 64 * 1024  # a movie header is a few hundred characters


@dataclass
class EmptyFile(MovieDbError):
    filename: str | None

    def __str__(self) -> str:
        return f"the file {self.filename!r} is empty"


@dataclass
class HeaderTooLong(MovieDbError):
    max_chars: int

    def __str__(self) -> str:
        return f"the header row does not end within the first {self.max_chars} characters"


class _HeaderScan:
    """Finds the first non-blank record in text fed piece by piece: a newline outside quotes
    ends a line; lines of whitespace before the header are skipped. A CR outside quotes must be
    followed by LF (CR-only line endings are refused, as `MovieCsv` refuses them)."""

    def __init__(self) -> None:
        self.line: list[str] = []  # the pieces of the current line (blank lines are dropped)
        self.scanned = 0  # characters seen so far, blank lines included
        self.in_quotes = False
        self.after_cr = False

    def feed(self, text: str) -> str | None:
        """Scan the next characters; the header record's text once its line has ended."""
        start = 0
        for index, char in enumerate(text):
            if self.after_cr and char != "\n":
                raise UnsupportedLineEndings()
            self.after_cr = False
            if char == '"':
                self.in_quotes = not self.in_quotes
            elif self.in_quotes:
                continue
            elif char == "\r":
                self.after_cr = True
            elif char == "\n":
                line = "".join(self.line) + text[start:index]
                if self.scanned + index > MAX_HEADER_CHARS:
                    raise HeaderTooLong(MAX_HEADER_CHARS)
                if line.strip():
                    return line
                self.line.clear()
                start = index + 1
        self.line.append(text[start:])
        self.scanned += len(text)
        if self.scanned > MAX_HEADER_CHARS:
            raise HeaderTooLong(MAX_HEADER_CHARS)
        return None

    def end(self) -> str:
        """The stream ended: what was read is the header record (maybe blank)."""
        if self.after_cr:
            raise UnsupportedLineEndings()
        return "".join(self.line)


def read_header(chunks: Iterator[bytes], filename: str | None) -> tuple[bytes, CsvLayout]:
    """Read just enough of the stream to check the header row; return the bytes read."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    scan = _HeaderScan()
    buffer = bytearray()
    header: str | None = None
    for chunk in chunks:
        buffer += chunk
        header = scan.feed(decoder.decode(chunk))
        if header is not None:
            break
    if header is None:
        scan.feed(decoder.decode(b"", final=True))
        header = scan.end()
    if not header.strip():
        raise EmptyFile(filename)
    record = next(csv.reader([header.rstrip("\r")], strict=False), [])
    return bytes(buffer), read_layout(record)  # raises InvalidCsvHeader
