"""A real `moviedb serve` process on a free loopback port, and raw-socket HTTP clients: what the
tests of hostile and heavy clients share (tests/e2e/test_hostile_clients.py)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.api_support import API_KEY
from tests.conftest import REPO
from tests.e2e.test_serve import free_port, wait_until

BOUNDARY = "XyZzy"


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(database_url: str, data_dir: Path, **settings: str) -> Iterator[Server]:
    """`moviedb serve` with the API key API_KEY and `settings` (environment variables), until
    the block ends (SIGINT, then SIGKILL if it does not stop)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MOVIEDB_DATA_DIR": str(data_dir),
        "MOVIEDB_API_KEY": API_KEY,
        **settings,
    }
    log = data_dir.parent / f"serve-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, process, log)
    try:
        with httpx.Client(base_url=server.base, timeout=10) as http:
            wait_until(lambda: http.get("/api/v1/ping").status_code == 200, what="the server")
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_socket(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def multipart_head(filename: str = "movies.csv") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def upload_request_head(content_length: int) -> bytes:
    return (
        "POST /api/v1/upload HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"X-API-Key: {API_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {content_length}\r\n\r\n"
    ).encode()


def answered(sock: socket.socket) -> bool:
    """Whether the server has sent something (or closed) on `sock`, without waiting."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(sock: socket.socket, *, deadline: float) -> RawResponse:
    """The response on `sock`: read until its Content-Length is in, or the server closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _recv(sock, deadline)
        if not chunk:
            break
        body += chunk
    return RawResponse(int(status_line.split()[1]), headers, body)


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise AssertionError("no answer before the deadline")
    sock.settimeout(remaining)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed by the server before a full response")
    return chunk
