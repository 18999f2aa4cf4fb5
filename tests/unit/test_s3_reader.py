"""S3ObjectReader: a dropped S3 connection mid-object is resumed where it stopped. No I/O: the
S3 client is a stand-in that serves ranges and drops its connection when told to."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import IncompleteReadError, ResponseStreamingError

from functions.core.storage import S3ObjectReader

DATA = bytes(range(256)) * 4000  # 1 MB


class DroppingBody:
    """A response body that fails after `drop_after` bytes, the way a dropped connection does."""

    def __init__(self, data: bytes, drop_after: int | None, error: BaseException) -> None:
        self._data, self._drop_after, self._error = io.BytesIO(data), drop_after, error
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        if self._drop_after is not None and self._data.tell() >= self._drop_after:
            raise self._error
        limit = amt if amt is not None else -1
        if self._drop_after is not None:
            limit = min(amt or len(DATA), self._drop_after - self._data.tell())
        return self._data.read(limit)

    def close(self) -> None:
        self.closed = True


class FlakyS3:
    def __init__(self, drops: list[int], error: BaseException, etag: str = '"abc"') -> None:
        self.drops, self.error, self.etag = drops, error, etag
        self.calls: list[dict[str, Any]] = []

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if request.get("IfMatch") not in (None, self.etag):
            raise AssertionError("precondition failed")
        start = (
            int(request["Range"].removeprefix("bytes=").rstrip("-")) if "Range" in request else 0
        )
        drop = self.drops.pop(0) - start if self.drops else None
        return {
            "ETag": self.etag,
            "ContentLength": len(DATA) - start,
            "Body": DroppingBody(DATA[start:], drop, self.error),
        }


def read_all(reader: io.RawIOBase, block: int = 65536) -> bytes:
    out = bytearray()
    while chunk := reader.read(block):
        out += chunk
    return bytes(out)


@pytest.mark.parametrize(
    "error",
    [
        IncompleteReadError(actual_bytes=1, expected_bytes=2),
        ResponseStreamingError(error="connection reset"),
    ],
)
def test_dropped_connections_are_resumed_from_where_they_stopped(error: BaseException) -> None:
    s3 = FlakyS3(drops=[300_000, 700_000], error=error)
    reader = S3ObjectReader(s3, "b", "k")

    assert read_all(reader) == DATA
    assert reader.resumes == 2
    assert [c.get("Range") for c in s3.calls] == [None, "bytes=300000-", "bytes=700000-"]
    assert all(c["IfMatch"] == '"abc"' for c in s3.calls[1:])  # the same object version


def test_a_connection_that_keeps_dropping_fails_the_read() -> None:
    error = IncompleteReadError(actual_bytes=1, expected_bytes=2)
    s3 = FlakyS3(drops=list(range(1000, 100_000, 1000)), error=error)
    reader = S3ObjectReader(s3, "b", "k")

    with pytest.raises(IncompleteReadError):
        read_all(reader)
    assert reader.resumes == S3ObjectReader.MAX_RESUMES + 1


def test_an_unbroken_read_asks_once() -> None:
    s3 = FlakyS3(drops=[], error=RuntimeError())
    reader = S3ObjectReader(s3, "b", "k")
    assert read_all(reader) == DATA
    assert len(s3.calls) == 1 and reader.resumes == 0
