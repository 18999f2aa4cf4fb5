"""The credential for writing: one API key, sent in the `X-API-Key` header.

Reading is public; uploads need the key. The key is `MOVIEDB_API_KEY` when configured. When it
is not (the local default), a random key is generated once, stored in the data directory
(`<data_dir>/api-key`, mode 0600) and reused by every later start; `moviedb serve` prints it.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from functions.core.config import get_settings
from functions.core.errors import MovieDbError

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
KEY_FILE_NAME = "api-key"


@dataclass
class MissingApiKey(MovieDbError):
    header: str = API_KEY_HEADER

    def __str__(self) -> str:
        return f"this operation needs an API key in the {self.header} header"


@dataclass
class WrongApiKey(MovieDbError):
    header: str = API_KEY_HEADER

    def __str__(self) -> str:
        return f"the API key in the {self.header} header is not valid"


@dataclass
class ApiKeyUnavailable(MovieDbError):
    """No key is configured and none could be generated (e.g. a read-only data directory)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return (
            "no API key is configured (MOVIEDB_API_KEY) and none could be stored in "
            f"{self.path}: {self.reason}"
        )


@dataclass(frozen=True)
class ApiKey:
    value: str
    generated_at: Path | None  # the file holding a generated key; None when configured


def key_file() -> Path:
    return get_settings().data_dir / KEY_FILE_NAME


def _read_or_create(path: Path) -> str:
    """The key stored at `path`, created (0600, exclusively) when absent."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    logger.info("API key generated", extra={"path": str(path)})
    return key


@lru_cache(maxsize=1)
def api_key() -> ApiKey:
    """The key uploads must present: configured, or generated once and stored."""
    configured = get_settings().api_key
    if configured:
        return ApiKey(configured, None)
    path = key_file()
    try:
        value = _read_or_create(path)
    except OSError as e:
        raise ApiKeyUnavailable(str(path), e.strerror or str(e)) from e
    if not value:
        raise ApiKeyUnavailable(str(path), "the file is empty")
    return ApiKey(value, path)


def check_api_key(provided: str | None) -> None:
    """Raise MissingApiKey / WrongApiKey unless `provided` is the service's key."""
    if not provided:
        raise MissingApiKey()
    expected = api_key().value
    if not hmac.compare_digest(provided.encode(), expected.encode()):
        raise WrongApiKey()
