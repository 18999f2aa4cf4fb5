"""The HTTP protocol `moviedb serve` runs uvicorn with: uvicorn's own, except that a request
uvicorn cannot parse (a bad Content-Length, a malformed request line or header) is answered in
the one error shape, `400 {"error": {"code": "bad_request", ...}}`, instead of uvicorn's plain
text. Such a request never reaches the app, so the app's error handlers cannot answer it.

Imported only by `moviedb serve` (uvicorn is not part of the Lambda artifact). It overrides
uvicorn's `send_400_response`, which both of its HTTP/1.1 protocols (httptools, h11) call for
an unparsable request; if a uvicorn release renames it, the plain text answer comes back (the
end-to-end test tests/e2e/test_hostile_clients.py says so).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

BAD_REQUEST = json.dumps(
    {
        "error": {
            "code": "bad_request",
            "message": "the HTTP request cannot be parsed (e.g. a bad Content-Length)",
            "details": None,
        }
    }
).encode()


class JsonErrorProtocol(AutoHTTPProtocol):  # type: ignore[valid-type,misc]
    """uvicorn's HTTP/1.1 protocol (httptools when installed, else h11) with a JSON 400."""

    transport: asyncio.Transport
    server_state: Any

    def send_400_response(self, msg: str) -> None:
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(BAD_REQUEST)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                BAD_REQUEST,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
