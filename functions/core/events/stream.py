"""An upload's live event stream (Server-Sent Events): `progress` events (rows and bytes read)
while it runs, at most a few per second, then one final event named after the status it ends
in (validated, completed, failed, cancelled, reverted) carrying the upload, and the end.

The stream holds no database connection: each look at the upload borrows one from the pool
for a single query (`read_upload`), so many idle streams cost threads' moments, not
connections."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread

from functions.core.uploads.records import Upload
from functions.core.uploads.status import FINISHED
from functions.core.uploads.view import upload_view

POLL_SECONDS = 0.4
KEEPALIVE_SECONDS = 15.0


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def upload_stream(
    read_upload: Callable[[], Upload], api_base: str, *, poll_seconds: float = POLL_SECONDS
) -> AsyncIterator[str]:
    last: tuple[str, int, int] | None = None
    quiet = 0.0
    while True:
        upload = await anyio.to_thread.run_sync(read_upload)
        if upload.status in FINISHED:
            view = upload_view(upload, api_base).model_dump(mode="json")
            yield sse(str(upload.status), view)
            return
        now = (str(upload.status), upload.rows_read, upload.bytes_read)
        if now != last:
            fraction = (
                min(1.0, upload.bytes_read / upload.size_bytes) if upload.size_bytes else None
            )
            yield sse(
                "progress",
                {
                    "upload_id": str(upload.id),
                    "status": str(upload.status),
                    "rows_read": upload.rows_read,
                    "bytes_read": upload.bytes_read,
                    "fraction": fraction,
                },
            )
            last, quiet = now, 0.0
        elif quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await anyio.sleep(poll_seconds)
        quiet += poll_seconds
