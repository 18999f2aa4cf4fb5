"""Accepting an uploaded file, and the way back.

`accept_upload` checks the CSV header from the first bytes (nothing is stored when it is wrong),
streams the content to storage while it is hashed and size-checked, and registers the upload.
The same content sent again is recognised by its sha256: the new copy is dropped and the
earlier upload is returned. Whatever goes wrong on the way, nothing is left behind.
`discard_upload` undoes an acceptance (e.g. when the job cannot be queued).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from functions.core.config import get_settings
from functions.core.db import connect, get_pool
from functions.core.ingest.filenames import clean_filename
from functions.core.ingest.header import read_header
from functions.core.ingest.pipeline import ProgressCallback, run_upload
from functions.core.storage import get_storage
from functions.core.uploads.records import (
    NewUpload,
    Upload,
    discard_pending_upload,
    register_upload,
)
from functions.core.uploads.status import Status

logger = logging.getLogger(__name__)


@dataclass
class Acceptance:
    upload: Upload
    created: bool  # False: the same content was uploaded before, as `upload`
    retry: bool = False  # a repeat of an upload that failed: it is run again, not ignored

    @property
    def needs_processing(self) -> bool:
        return self.created or self.retry


def accept_upload(
    chunks: Iterable[bytes],
    *,
    filename: str | None,
    source: str = "api",
    review: bool = False,
) -> Acceptance:
    """Store and register one uploaded file (or recognise it as a repeat). `review`: stop at
    `validated`, for a person to look at its change set before it is published."""
    settings = get_settings()
    name = clean_filename(filename)  # raises InvalidFilename before anything is read
    stream = iter(chunks)
    head, layout = read_header(stream, filename)
    storage = get_storage()
    stored = storage.save(chain([head], stream), max_bytes=settings.max_upload_bytes)
    new = NewUpload(
        filename=name,
        source=source,
        content_sha256=stored.sha256,
        size_bytes=stored.size,
        storage_uri=stored.uri,
        max_error_rate=settings.max_error_rate,
        review=review,
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
    return Acceptance(registration.upload, registration.created, registration.retry)


def discard_upload(upload_id: uuid.UUID) -> None:
    """Undo an acceptance that was never processed: the record and its stored file."""
    with get_pool().connection() as conn:
        storage_uri = discard_pending_upload(conn, upload_id)
    if storage_uri:
        get_storage().delete(storage_uri)
    logger.info("upload discarded", extra={"upload_id": str(upload_id)})


def dispatch_or_discard(acceptance: Acceptance, dispatch: Callable[..., None]) -> None:
    """Hand the upload to whoever runs it (functions/core/ingest/dispatch.py); when that fails,
    a new upload is discarded (nothing left behind) and the error goes up."""
    try:
        dispatch(acceptance.upload.id, retry_failed=acceptance.retry)
    except BaseException:
        if acceptance.created:
            discard_upload(acceptance.upload.id)
        raise


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
    path: Path,
    *,
    max_error_rate: float | None,
    review: bool = False,
    on_progress: ProgressCallback | None = None,
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
        review=review,
    )
    with connect() as conn:
        registration = register_upload(conn, new)
    if not registration.created and registration.upload.status == Status.COMPLETED:
        return LocalIngestion(registration.upload, duplicate=True)
    upload = run_upload(registration.upload.id, retry_failed=True, on_progress=on_progress)
    return LocalIngestion(upload, duplicate=False)
