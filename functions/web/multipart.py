"""Reading one file field out of a `multipart/form-data` body as it streams in.

Pure: bytes in, bytes out. The body is never held whole: `file_field` reads until the wanted
part's headers, then hands out its content chunk by chunk; the chunk iterator ends only once
the whole body has been read and closed properly, so a truncated body is an error rather than
a shorter file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from functions.core.errors import MovieDbError


@dataclass
class NotMultipart(MovieDbError):
    content_type: str

    def __str__(self) -> str:
        shown = self.content_type or "none"
        return f"expected a multipart/form-data request body, got content type {shown}"


@dataclass
class MalformedMultipart(MovieDbError):
    reason: str

    def __str__(self) -> str:
        return f"malformed multipart/form-data body: {self.reason}"


@dataclass
class MissingFileField(MovieDbError):
    field: str

    def __str__(self) -> str:
        return f"no file in the multipart field {self.field!r}"


@dataclass
class FilePart:
    filename: str | None
    content_type: str | None
    chunks: Iterator[bytes]  # the file's content; ends after the body's closing boundary


# Parser events: ("begin",), ("header", name, value), ("headers",), ("data", bytes),
# ("part_end",), ("end",)
_Event = tuple[object, ...]


def _events(body: Iterable[bytes], boundary: bytes) -> Iterator[_Event]:
    pending: list[_Event] = []
    field: list[bytes] = []
    value: list[bytes] = []

    def on_header_end() -> None:
        pending.append(("header", b"".join(field).decode("latin-1").lower(), b"".join(value)))
        field.clear()
        value.clear()

    callbacks = {
        "on_part_begin": lambda: pending.append(("begin",)),
        "on_header_field": lambda d, s, e: field.append(d[s:e]),
        "on_header_value": lambda d, s, e: value.append(d[s:e]),
        "on_header_end": on_header_end,
        "on_headers_finished": lambda: pending.append(("headers",)),
        "on_part_data": lambda d, s, e: pending.append(("data", bytes(d[s:e]))),
        "on_part_end": lambda: pending.append(("part_end",)),
        "on_end": lambda: pending.append(("end",)),
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    ended = False
    try:
        for chunk in body:
            parser.write(chunk)
            for event in pending:
                ended = ended or event[0] == "end"
                yield event
            pending.clear()
        parser.finalize()
    except MultipartParseError as e:
        raise MalformedMultipart(str(e) or type(e).__name__) from e
    for event in pending:
        ended = ended or event[0] == "end"
        yield event
    if not ended:
        raise MalformedMultipart("the body ended before its closing boundary")


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise NotMultipart(content_type)
    return boundary


def file_field(body: Iterable[bytes], content_type: str, field: str = "file") -> FilePart:
    """The first part named `field` of a multipart/form-data body, its content streamed."""
    events = _events(body, boundary_of(content_type))
    headers: dict[str, bytes] = {}
    for event in events:
        kind = event[0]
        if kind == "begin":
            headers = {}
        elif kind == "header":
            headers[str(event[1])] = event[2]  # type: ignore[assignment]
        elif kind == "headers":
            disposition = headers.get("content-disposition", b"").decode("latin-1")
            _, options = parse_options_header(disposition)
            if options.get(b"name", b"").decode("latin-1") == field:
                filename = options.get(b"filename")
                part_type = headers.get("content-type")
                return FilePart(
                    filename=filename.decode("utf-8", "replace") if filename is not None else None,
                    content_type=part_type.decode("latin-1").strip() if part_type else None,
                    chunks=_content(events),
                )
    raise MissingFileField(field)


def _content(events: Iterator[_Event]) -> Iterator[bytes]:
    """The current part's data, then the rest of the body read (and ignored) to its end."""
    for event in events:
        if event[0] == "data":
            yield event[1]  # type: ignore[misc]
        elif event[0] == "part_end":
            break
    for _ in events:  # later fields are ignored, but the body must be complete
        pass
