"""The upload request as HTTP sends it: the multipart body read as it arrives, the content-type
rules for a CSV file, and the size refused before a byte is read. The core then takes a file
name and a byte stream (functions/core/ingest/intake.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import anyio.from_thread
from fastapi import Request

from functions.core.config import get_settings
from functions.core.errors import MovieDbError
from functions.core.ingest.intake import Acceptance, accept_upload
from functions.core.storage import UploadTooLarge
from functions.web.multipart import MissingFileField, file_field

CSV_CONTENT_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/x-csv",
        "application/x-csv",
        "text/comma-separated-values",
        "application/vnd.ms-excel",  # what browsers on Windows send for .csv
        "text/plain",
    }
)
# Types that say nothing about the content: the file name decides.
GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file


@dataclass
class NotCsv(MovieDbError):
    filename: str | None
    content_type: str | None

    def __str__(self) -> str:
        return (
            f"the file {self.filename!r} (content type {self.content_type or 'none'}) is not "
            "a CSV file: send a .csv file, as text/csv"
        )


def check_csv_type(filename: str | None, content_type: str | None) -> None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in CSV_CONTENT_TYPES:
        return
    if kind in GENERIC_CONTENT_TYPES and (filename or "").lower().endswith(".csv"):
        return
    raise NotCsv(filename, content_type)


def accept_multipart(
    body: Iterable[bytes],
    content_type: str,
    *,
    declared_length: int | None = None,
    field: str = "file",
    review: bool = False,
) -> Acceptance:
    """`accept_upload` for the file in field `field` of a multipart/form-data request body."""
    max_bytes = get_settings().max_upload_bytes
    if declared_length is not None and declared_length > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise UploadTooLarge(max_bytes)  # refused before reading a byte
    part = file_field(body, content_type, field)
    if part.filename is None:  # a plain form value, not a file
        raise MissingFileField(field)
    check_csv_type(part.filename, part.content_type)
    return accept_upload(part.chunks, filename=part.filename, review=review)


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as it arrives, for a worker thread (each chunk awaited on the loop)."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None
