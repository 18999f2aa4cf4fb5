"""The upload request as HTTP sends it: the multipart body read as it arrives, the content-type
rules for a CSV file, and the size refused before a byte is read. The core then takes a file
name and a byte stream (functions/core/ingest/intake.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
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


@dataclass
class BodyTimeout(MovieDbError):
    """The next chunk of the request body did not arrive in time: the upload is dropped."""

    timeout_seconds: float

    def __str__(self) -> str:
        return (
            f"the request body stopped arriving (no data for {self.timeout_seconds:g} s): "
            "nothing was kept, send the file again"
        )


@dataclass
class TooManyUploads(MovieDbError):
    """This process already reads as many upload bodies as it may; the body was not read."""

    max_uploads: int
    retry_after_seconds: int

    def __str__(self) -> str:
        return (
            f"{self.max_uploads} uploads are already being received: "
            f"try again in {self.retry_after_seconds} s"
        )


RETRY_AFTER_SECONDS = 5
_slots_lock = threading.Lock()
_in_flight = 0


@contextmanager
def upload_slot() -> Iterator[None]:
    """One of the MOVIEDB_MAX_UPLOADS_IN_FLIGHT upload bodies this process reads at once, for
    the length of the block; TooManyUploads at once when none is free. Each body read holds a
    thread, so the limit keeps threads free for every other request (reads answer while upload
    bodies stall)."""
    global _in_flight
    limit = get_settings().max_uploads_in_flight
    with _slots_lock:
        if _in_flight >= limit:
            raise TooManyUploads(limit, RETRY_AFTER_SECONDS)
        _in_flight += 1
    try:
        yield
    finally:
        with _slots_lock:
            _in_flight -= 1


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


def body_chunks(request: Request, *, timeout: float | None = None) -> Iterator[bytes]:
    """The request body as it arrives, for a worker thread (each chunk awaited on the loop).
    A chunk that does not arrive within `timeout` seconds (default
    MOVIEDB_UPLOAD_BODY_TIMEOUT_SECONDS) raises BodyTimeout."""
    stream = request.stream()
    seconds = get_settings().upload_body_timeout_seconds if timeout is None else timeout

    async def next_chunk() -> bytes | None:
        try:
            with anyio.fail_after(seconds):
                return await stream.__anext__()
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise BodyTimeout(seconds) from None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None
