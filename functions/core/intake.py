"""Accepting an uploaded file, and the way back.

`accept_upload` checks the CSV header from the first bytes (nothing is stored when it is wrong),
streams the content to storage while it is hashed and size-checked, and registers the upload.
The same content sent again is recognised by its sha256: the new copy is dropped and the
earlier upload is returned. Whatever goes wrong on the way, nothing is left behind.
`discard_upload` undoes an acceptance (e.g. when the job cannot be queued).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path, PurePosixPath, PureWindowsPath

from functions.core.config import get_settings
from functions.core.db import connect, get_pool
from functions.core.errors import MovieDbError
from functions.core.ingestion import ProgressCallback, run_upload
from functions.core.multipart import MissingFileField, file_field
from functions.core.parsing import CsvLayout, read_layout
from functions.core.storage import UploadTooLarge, get_storage
from functions.core.uploads import NewUpload, Upload, delete_pending_upload, register_upload

logger = logging.getLogger(__name__)

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
HEADER_PEEK_BYTES = 1024 * 1024  # read no further looking for the end of the header row
MAX_HEADER_CHARS = 64 * 1024  # a movie header is a few hundred characters
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file
MAX_FILENAME_CHARS = 255


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
class EmptyFile(MovieDbError):
    filename: str | None

    def __str__(self) -> str:
        return f"the file {self.filename!r} is empty"


@dataclass
class Acceptance:
    upload: Upload
    created: bool  # False: the same content was uploaded before, as `upload`

    @property
    def retry(self) -> bool:
        """A repeat of an upload that failed: it is run again rather than ignored."""
        return not self.created and self.upload.status == "failed"

    @property
    def needs_processing(self) -> bool:
        return self.created or self.retry


def clean_filename(filename: str | None) -> str:
    """The name as the user knows it, without any directory part (never used as a path)."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return (name or "upload.csv")[:MAX_FILENAME_CHARS]


def check_csv_type(filename: str | None, content_type: str | None) -> None:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in CSV_CONTENT_TYPES:
        return
    if kind in GENERIC_CONTENT_TYPES and (filename or "").lower().endswith(".csv"):
        return
    raise NotCsv(filename, content_type)


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


def accept_upload(
    chunks: Iterable[bytes],
    *,
    filename: str | None,
    content_type: str | None,
    source: str = "api",
) -> Acceptance:
    """Store and register one uploaded file (or recognise it as a repeat)."""
    settings = get_settings()
    check_csv_type(filename, content_type)
    stream = iter(chunks)
    head, layout = read_header(stream, filename)
    storage = get_storage()
    stored = storage.save(chain([head], stream), max_bytes=settings.max_upload_bytes)
    new = NewUpload(
        filename=clean_filename(filename),
        source=source,
        content_sha256=stored.sha256,
        size_bytes=stored.size,
        storage_uri=stored.uri,
        max_error_rate=settings.max_error_rate,
    )
    try:
        with get_pool().connection() as conn:
            registration = register_upload(conn, new)
    except BaseException:
        storage.delete(stored.uri)
        raise
    if registration.replaced_uri is not None:  # a failed upload is retried with this copy
        if storage.owns(registration.replaced_uri):
            storage.delete(registration.replaced_uri)
    elif not registration.created:
        storage.delete(stored.uri)  # the earlier upload keeps its own copy
    if not registration.created:
        logger.info("same content uploaded again", extra={"upload_id": str(registration.upload.id)})
    elif layout.ignored_columns:
        logger.info(
            "upload has extra columns",
            extra={"upload_id": str(registration.upload.id), "ignored": layout.ignored_columns},
        )
    return Acceptance(registration.upload, registration.created)


def accept_multipart(
    body: Iterable[bytes],
    content_type: str,
    *,
    declared_length: int | None = None,
    field: str = "file",
) -> Acceptance:
    """`accept_upload` for the file in field `field` of a multipart/form-data request body."""
    max_bytes = get_settings().max_upload_bytes
    if declared_length is not None and declared_length > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise UploadTooLarge(max_bytes)  # refused before reading a byte
    part = file_field(body, content_type, field)
    if part.filename is None:  # a plain form value, not a file
        raise MissingFileField(field)
    return accept_upload(part.chunks, filename=part.filename, content_type=part.content_type)


def discard_upload(upload_id: uuid.UUID) -> None:
    """Undo an acceptance that was never processed: the record and its stored file."""
    with get_pool().connection() as conn:
        storage_uri = delete_pending_upload(conn, upload_id)
    if storage_uri:
        get_storage().delete(storage_uri)
    logger.info("upload discarded", extra={"upload_id": str(upload_id)})


def queue_or_discard(acceptance: Acceptance, enqueue: Callable[[uuid.UUID], None]) -> None:
    """Hand the upload to a queue; when that fails, a new upload is discarded (nothing left
    behind) and the error goes up."""
    try:
        enqueue(acceptance.upload.id)
    except BaseException:
        if acceptance.created:
            discard_upload(acceptance.upload.id)
        raise


def ingest_accepted(upload_id: uuid.UUID, *, retry_failed: bool = False) -> None:
    """Process an accepted upload in the background. Its outcome, failures included, is
    recorded in its upload record by `run_upload`; here it is also logged."""
    try:
        run_upload(upload_id, retry_failed=retry_failed)
    except Exception:
        logger.exception("background ingestion failed", extra={"upload_id": str(upload_id)})


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass
class LocalIngestion:
    upload: Upload
    duplicate: bool  # the same content was ingested before: nothing was done


def ingest_local_file(
    path: Path, *, max_error_rate: float | None, on_progress: ProgressCallback | None = None
) -> LocalIngestion:
    """The command line's door: register a file where it lies (it is not copied) and ingest it.
    Content ingested before is not run again; a failed or interrupted upload of it is."""
    sha256, size = file_digest(path)
    new = NewUpload(
        filename=path.name,
        source="cli",
        content_sha256=sha256,
        size_bytes=size,
        storage_uri=path.resolve().as_uri(),
        max_error_rate=max_error_rate,
    )
    with connect() as conn:
        registration = register_upload(conn, new)
    if not registration.created and registration.upload.status == "completed":
        return LocalIngestion(registration.upload, duplicate=True)
    upload = run_upload(registration.upload.id, retry_failed=True, on_progress=on_progress)
    return LocalIngestion(upload, duplicate=False)
