"""Parsing a large file in a process of its own, beside the one that streams its rows to
PostgreSQL.

Parsing and validating is Python work bound to one core (about 9 µs a row, functions/core/
ingest/parsing.py); formatting the rows for COPY is another 2 µs. Here both run in a child
process, and the worker only forwards the child's COPY text to PostgreSQL: the worker's Python
is almost idle, and PostgreSQL's work on the rows runs on another core (bench/ingest.py
measured it). Handing the rows over as Python objects instead (pickle, marshal) costs more than
it saves: building the objects again is 3 to 4 µs a row.

`ParserProcess` runs `python -m functions.core.ingest.parse_process`: a thread of this process
streams the file's bytes into the child's standard input, the child reads them with
`MovieCsv` and writes back frames (length-prefixed pickles): the file's layout first (or the
header's error), then chunks (the accepted rows as COPY text, the rejections, how many records
the chunk holds), then the end. A file is complete only when the child reached its end and the
stream was read to its end: a storage error while reading, or a child that dies, raises here,
and the upload fails whole (nothing of it is published).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, BinaryIO

import functions
from functions.core.errors import InvalidCsvHeader, MovieDbError, UnsupportedLineEndings
from functions.core.ingest.header import HeaderTooLong
from functions.core.ingest.parsing import CsvLayout, MovieCsv, Rejection, StagingRow

# A chunk of the file: its accepted rows (staging rows, or the same as COPY text), its
# rejections, and how many records it holds.
Chunk = tuple[list[StagingRow] | bytes, list[Rejection], int]

READ_BLOCK = 1 << 20
_LENGTH = struct.Struct("!Q")
# the errors a file's header can raise, rebuilt here from their fields
_HEADER_ERRORS: dict[str, type[MovieDbError]] = {
    cls.__name__: cls for cls in (InvalidCsvHeader, UnsupportedLineEndings, HeaderTooLong)
}


class ParserProcessFailed(MovieDbError):
    """The parser process ended without reaching the end of the file."""


def _write_frame(out: IO[bytes], frame: tuple[Any, ...]) -> None:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def _read_frame(source: IO[bytes]) -> tuple[Any, ...] | None:
    """The next frame; None when the child's output ends (cleanly or not)."""
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = source.read(length)
    if len(data) < length:
        return None
    frame: tuple[Any, ...] = pickle.loads(data)  # noqa: S301 (from our own child process)
    return frame


def child_main(chunk_rows: int) -> int:
    """The child: `MovieCsv` over standard input, frames to standard output."""
    # psycopg's own COPY text formatter, as the worker's `write_row` would use it (no connection)
    from psycopg._copy_base import TextFormatter
    from psycopg.adapt import Transformer

    # the frames have the standard output to themselves: anything else printed goes to stderr
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        movie_csv = MovieCsv(sys.stdin.buffer)
    except tuple(_HEADER_ERRORS.values()) as e:
        _write_frame(out, ("error", type(e).__name__, asdict(e)))  # type: ignore[call-overload]
        out.flush()
        return 0
    _write_frame(out, ("layout", movie_csv.layout))
    formatter = TextFormatter(Transformer())
    copy_text = bytearray()
    rejections: list[Rejection] = []
    records = 0
    for record in movie_csv.rows():
        records += 1
        if type(record) is list:
            copy_text += formatter.write_row(record)
        else:
            rejections.append(record)  # type: ignore[arg-type]
        if records == chunk_rows:
            copy_text += formatter.end()
            _write_frame(out, ("chunk", bytes(copy_text), rejections, records))
            copy_text, rejections, records = bytearray(), [], 0
    if records:
        copy_text += formatter.end()
        _write_frame(out, ("chunk", bytes(copy_text), rejections, records))
    _write_frame(out, ("end",))
    out.flush()
    return 0


class ParserProcess:
    """The file read from `stream` by a child process: `layout`, then `chunks()`. A context
    manager: the child starts on entering (the header is read then, and its error raised),
    and is stopped on leaving, with the thread that feeds it."""

    def __init__(self, stream: BinaryIO | Any, chunk_rows: int) -> None:
        self._stream, self._chunk_rows = stream, chunk_rows
        self._feed_error: BaseException | None = None
        self.layout: CsvLayout

    def __enter__(self) -> ParserProcess:
        package_root = str(Path(functions.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        self._child = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
            [sys.executable, "-m", __name__, str(self._chunk_rows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        self._feeder = threading.Thread(target=self._feed, name="csv-feed", daemon=True)
        self._feeder.start()
        try:
            self.layout = self._first_frame()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _feed(self) -> None:
        stdin = self._child.stdin
        assert stdin is not None
        try:
            while block := self._stream.read(READ_BLOCK):
                stdin.write(block)
        except BrokenPipeError:
            pass  # the child stopped reading: it ended (or was stopped); its output says why
        except BaseException as e:  # a storage error: the file is not complete
            self._feed_error = e
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def _frame(self) -> tuple[Any, ...]:
        assert self._child.stdout is not None
        frame = _read_frame(self._child.stdout)
        if frame is None:
            self._raise_incomplete()
        assert frame is not None
        return frame

    def _raise_if_not_read_whole(self) -> None:
        self._feeder.join()
        if self._feed_error is not None:
            raise self._feed_error

    def _raise_incomplete(self) -> None:
        self._raise_if_not_read_whole()
        code = self._child.wait()
        raise ParserProcessFailed(f"the parser process ended early (exit status {code})")

    def _first_frame(self) -> CsvLayout:
        frame = self._frame()
        if frame[0] == "error":
            _, name, fields = frame
            self._raise_if_not_read_whole()  # a storage error explains a header cut short
            raise _HEADER_ERRORS[name](**fields)
        layout: CsvLayout = frame[1]
        return layout

    def chunks(self) -> Iterator[Chunk]:
        """The file's accepted rows (as COPY text) and rejections, in file order, chunk after
        chunk."""
        while (frame := self._frame())[0] == "chunk":
            yield frame[1], frame[2], frame[3]
        self._raise_if_not_read_whole()  # the end: the stream must have been read to its end
        if self._child.wait() != 0:
            self._raise_incomplete()

    def __exit__(self, *exc: object) -> None:
        if self._child.poll() is None:
            self._child.kill()
        self._child.wait()
        for pipe in (self._child.stdout, self._child.stdin):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._feeder.join()


if __name__ == "__main__":
    sys.exit(child_main(int(sys.argv[1])))
