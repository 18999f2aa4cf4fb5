"""Reading the file field of a multipart/form-data body as it streams in (no I/O)."""

from __future__ import annotations

import pytest

from functions.web.multipart import (
    MalformedMultipart,
    MissingFileField,
    NotMultipart,
    boundary_of,
    file_field,
)

CONTENT_TYPE = "multipart/form-data; boundary=----b0undary"


def body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += (
            (
                f"------b0undary\r\nContent-Disposition: {disposition}\r\n"
                "Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return out + (b"------b0undary--\r\n" if close else b"")


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


CSV = b"title,year\r\nAlpha,2001\r\n" * 50


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_the_file_comes_out_whole_however_the_body_is_chunked(size: int) -> None:
    data = body(("note", None, b"hello"), ("file", "movies.csv", CSV), ("after", None, b"x"))
    part = file_field(chunked(data, size), CONTENT_TYPE)
    assert part.filename == "movies.csv"
    assert part.content_type == "text/csv"
    assert b"".join(part.chunks) == CSV


def test_the_content_is_streamed_not_collected_first() -> None:
    data = body(("file", "m.csv", CSV))
    read: list[int] = []

    def source():
        for chunk in chunked(data, 100):
            read.append(len(chunk))
            yield chunk

    part = file_field(source(), CONTENT_TYPE)
    first = next(part.chunks)
    assert first and sum(read) < len(data)


def test_a_body_cut_before_its_closing_boundary_is_an_error() -> None:
    part = file_field([body(("file", "m.csv", CSV), close=False)], CONTENT_TYPE)
    with pytest.raises(MalformedMultipart):
        b"".join(part.chunks)


def test_a_missing_field_is_named() -> None:
    with pytest.raises(MissingFileField, match="'file'"):
        file_field([body(("other", "m.csv", CSV))], CONTENT_TYPE)


def test_a_non_ascii_file_name_survives() -> None:
    data = body(("file", "films-été.csv", CSV))
    assert file_field([data], CONTENT_TYPE).filename == "films-été.csv"


@pytest.mark.parametrize(
    "content_type", ["", "application/json", "multipart/form-data", "text/csv; boundary=x"]
)
def test_anything_but_multipart_form_data_with_a_boundary_is_refused(content_type: str) -> None:
    with pytest.raises(NotMultipart):
        boundary_of(content_type)


def test_garbage_is_malformed() -> None:
    with pytest.raises((MalformedMultipart, MissingFileField)):
        part = file_field([b"not a multipart body at all"], CONTENT_TYPE)
        b"".join(part.chunks)
