"""Where uploaded files live between their arrival and their ingestion.

A local directory by default (shared by the API and a worker on one machine or through a
docker-compose volume), an S3 bucket when `S3_BUCKET` is set. Files are addressed by URI:
`file:///abs/path` or `s3://bucket/key`. Names from requests never become paths: stored files
are named by a fresh uuid.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from functions.core.config import get_settings
from functions.core.errors import MovieDbError
from functions.core.s3.client import s3_client

logger = logging.getLogger(__name__)

S3_PART_BYTES = 16 * 1024 * 1024


@dataclass
class UploadTooLarge(MovieDbError):
    max_bytes: int

    def __str__(self) -> str:
        return f"the file is larger than the limit of {self.max_bytes} bytes"


@dataclass
class StorageUnavailable(MovieDbError):
    """The file could not be written where uploads are kept (disk full, S3 unreachable)."""

    cause: str

    def __str__(self) -> str:
        return f"the upload could not be stored: {self.cause}"


def storage_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions a failing storage raises (local disk, S3)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (OSError, BotoCoreError, ClientError, StorageUnavailable)


def is_missing_file(error: BaseException) -> bool:
    """Whether `error` says the stored file is not there (a local file or an S3 object)."""
    if isinstance(error, FileNotFoundError):
        return True
    response = getattr(error, "response", None)  # botocore's ClientError
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("NoSuchKey", "404", "NotFound")


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Failures of the storage itself (not of the incoming stream) as StorageUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (OSError, BotoCoreError, ClientError) as e:
        raise StorageUnavailable(f"{type(e).__name__}: {e}") from e


@dataclass
class UnsupportedStorageUri(MovieDbError):
    uri: str

    def __str__(self) -> str:
        return f"cannot open stored file {self.uri!r}"


@dataclass(frozen=True)
class StoredFile:
    uri: str
    sha256: str
    size: int


class Storage(Protocol):
    def save(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredFile: ...

    def delete(self, uri: str) -> None: ...

    def owns(self, uri: str) -> bool:
        """Whether `uri` is a file this storage wrote (never delete a user's own file)."""
        ...


class _Digest:
    """sha256 and size of the bytes passed through, with the size limit enforced."""

    def __init__(self, max_bytes: int) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise UploadTooLarge(self.max_bytes)
        self.sha256.update(chunk)


class LocalStorage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredFile:
        path = self.directory / f"{uuid.uuid4()}.csv"
        digest = _Digest(max_bytes)
        try:
            with _storage_errors():
                self.directory.mkdir(parents=True, exist_ok=True)
                f = path.open("xb")
            with f:
                for chunk in chunks:
                    digest.add(chunk)
                    with _storage_errors():
                        f.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # nothing left behind
            raise
        return StoredFile(path.as_uri(), digest.sha256.hexdigest(), digest.size)

    def delete(self, uri: str) -> None:
        _local_path(uri).unlink(missing_ok=True)

    def owns(self, uri: str) -> bool:
        try:
            return _local_path(uri).parent == self.directory
        except UnsupportedStorageUri:
            return False


class S3Storage:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix

    def save(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredFile:
        client = s3_client()
        key = f"{self.prefix}{uuid.uuid4()}.csv"
        digest = _Digest(max_bytes)
        with _storage_errors():
            multipart = client.create_multipart_upload(Bucket=self.bucket, Key=key)
        parts: list[dict[str, Any]] = []
        buffer = bytearray()

        def flush() -> None:
            number = len(parts) + 1
            with _storage_errors():
                answer = client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=multipart["UploadId"],
                    PartNumber=number,
                    Body=bytes(buffer),
                )
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            buffer.clear()

        try:
            for chunk in chunks:
                digest.add(chunk)
                buffer += chunk
                if len(buffer) >= S3_PART_BYTES:
                    flush()
            if buffer or not parts:
                flush()
            with _storage_errors():
                client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=multipart["UploadId"],
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(StorageUnavailable), _storage_errors():
                client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=multipart["UploadId"]
                )
            raise
        return StoredFile(f"s3://{self.bucket}/{key}", digest.sha256.hexdigest(), digest.size)

    def delete(self, uri: str) -> None:
        bucket, key = _s3_location(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)

    def owns(self, uri: str) -> bool:
        try:
            bucket, key = _s3_location(uri)
        except UnsupportedStorageUri:
            return False
        return bucket == self.bucket and key.startswith(self.prefix)


def get_storage() -> Storage:
    settings = get_settings()
    if settings.s3_bucket:
        return S3Storage(settings.s3_bucket, "uploads/")
    return LocalStorage(settings.storage_dir)


def remove_unreferenced_files(
    referenced: Callable[[Collection[str]], set[str]], *, grace_seconds: float
) -> list[Path]:
    """Delete the files of the local uploads directory that no upload references (of the file
    names given, `referenced` returns those an upload's storage URI ends with) and that were
    last written more than `grace_seconds` ago: what a process killed during an upload's body
    left behind. A body still arriving is written to all along, so it is never old enough.
    With S3 storage there is nothing to do here (aborted multipart uploads are S3's own).
    Returns the files deleted."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage) or not storage.directory.is_dir():
        return []
    cutoff = time.time() - grace_seconds
    old: dict[str, Path] = {}
    for path in storage.directory.iterdir():
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
            if path.is_file() and path.stat().st_mtime < cutoff:
                old[path.name] = path
    if not old:
        return []
    kept = referenced(old.keys())
    removed = []
    for name, path in old.items():
        if name in kept:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
            logger.warning("unreferenced stored file deleted", extra={"path": str(path)})
    return removed


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    raise UnsupportedStorageUri(uri)


def _s3_location(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key), the key as it is: S3 keys may hold `#`, `?`, `%`."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise UnsupportedStorageUri(uri)
    return bucket, key


def _dropped_connection_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import (
        ConnectionClosedError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from urllib3.exceptions import ProtocolError
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    return (
        IncompleteReadError,
        ResponseStreamingError,
        ReadTimeoutError,
        ConnectionClosedError,
        ProtocolError,
        Urllib3ReadTimeout,
    )


class S3ObjectReader(io.RawIOBase):
    """An S3 object's body, streamed, that survives a dropped connection.

    The ingestion reads as slowly as it loads, so one GET can stay open for minutes; a server or
    network that drops it mid-way (LocalStack does, on large objects read slowly) would fail the
    upload. On such an error the reader asks again for the rest (`Range: bytes=<read so far>-`),
    pinned to the first answer's ETag (`If-Match`): an object replaced meanwhile fails the read
    rather than mixing two versions.
    """

    MAX_RESUMES = 10

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        answer = client.get_object(Bucket=bucket, Key=key)
        self.etag: str = answer["ETag"]
        self.size: int = answer["ContentLength"]
        self._body = answer["Body"]
        self._position = 0
        self.resumes = 0
        self._errors = _dropped_connection_errors()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            try:
                data = self._body.read(len(buffer))
            except self._errors as e:
                self._resume(e)
                continue
            if not data and self._position < self.size:  # ended early without saying so
                self._resume(None)
                continue
            n = len(data)
            buffer[:n] = data
            self._position += n
            return n

    def _resume(self, error: BaseException | None) -> None:
        self.resumes += 1
        if self.resumes > self.MAX_RESUMES:
            if error is not None:
                raise error
            raise ConnectionError(f"s3://{self._bucket}/{self._key}: body ended early")
        logger.warning(
            "s3 read interrupted, resuming",
            extra={
                "key": self._key,
                "position": self._position,
                "size": self.size,
                "error": f"{type(error).__name__}: {error}" if error else "early end",
            },
        )
        self._body.close()
        self._body = self._client.get_object(
            Bucket=self._bucket,
            Key=self._key,
            Range=f"bytes={self._position}-",
            IfMatch=self.etag,
        )["Body"]

    def close(self) -> None:
        self._body.close()
        super().close()


@contextmanager
def open_stored(uri: str) -> Iterator[BinaryIO]:
    """Open a stored file for streaming reads (never downloaded whole)."""
    if uri.startswith("s3://"):
        bucket, key = _s3_location(uri)
        with S3ObjectReader(s3_client(), bucket, key) as body:
            yield body  # type: ignore[misc]
    else:
        with _local_path(uri).open("rb") as f:
            yield f
