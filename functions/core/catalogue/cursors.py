"""Keyset cursors: where a page ended, opaque and signed (HMAC-SHA256 with
`MOVIEDB_CURSOR_SECRET`). A cursor that was altered, or is malformed, is `InvalidCursor`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from functions.core.catalogue.columns import SORT_COLUMNS
from functions.core.catalogue.order import SortKey, stretches
from functions.core.config import get_settings
from functions.core.limits import INT4_MAX, INT8_MAX

MAX_CURSOR_LENGTH = 1000
# 2: the position is a stretch of the order and its sort keys (order.py); version 1 cursors
# name a place in the orders before the original system's tie-breaks and are refused.
CURSOR_VERSION = 2


class InvalidCursor(ValueError):
    """A cursor that was not made by this service, was altered, or is malformed."""

    def __init__(self, reason: str = "cursor is invalid or was altered") -> None:
        super().__init__(reason)


@dataclass(frozen=True)
class Position:
    """Where a page ended, for the listing it belongs to: the stretch of the order the last
    movie is in, its sort keys there but the id (order.py), and its id."""

    sort_by: str
    sort_order: str
    fingerprint: str
    stretch: int
    keys: tuple[Any, ...]  # date | float | int | str, one per key of the stretch but the id
    id: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise InvalidCursor()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None


def _signature(payload: bytes) -> bytes:
    key = get_settings().cursor_secret.encode()
    return hmac.new(key, payload, hashlib.sha256).digest()[:16]


def encode_cursor(position: Position) -> str:
    keys = [value.isoformat() if isinstance(value, date) else value for value in position.keys]
    payload = json.dumps(
        [
            CURSOR_VERSION,
            position.sort_by,
            position.sort_order,
            position.fingerprint,
            position.stretch,
            keys,
            position.id,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return f"{_b64encode(payload)}.{_b64encode(_signature(payload))}"


def _key_value(key: SortKey, raw: object) -> Any:
    """One sort key's value from a cursor, checked against the key's type."""
    if key.sql_type == "date" and isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor() from None
    if key.sql_type == "real" and type(raw) in (int, float) and -1 <= raw <= 11:  # type: ignore[operator]
        return float(raw)  # type: ignore[arg-type]
    int_max = INT4_MAX if key.sql_type == "integer" else INT8_MAX
    if key.sql_type in ("integer", "bigint") and type(raw) is int and -int_max <= raw <= int_max:
        return raw
    if key.sql_type == "text" and isinstance(raw, str) and 0 < len(raw) <= 500:
        return raw
    raise InvalidCursor()


def decode_cursor(text: str) -> Position:
    """The position a cursor made by `encode_cursor` stands for; InvalidCursor otherwise."""
    if len(text) > MAX_CURSOR_LENGTH or text.count(".") != 1:
        raise InvalidCursor()
    body, signature = text.split(".")
    payload = _b64decode(body)
    if not hmac.compare_digest(_b64decode(signature), _signature(payload)):
        raise InvalidCursor()
    try:
        fields = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidCursor() from None
    if not isinstance(fields, list) or not fields or fields[0] != CURSOR_VERSION:
        raise InvalidCursor("cursor is from another version of the service")
    if len(fields) != 7:
        raise InvalidCursor()
    _, sort_by, sort_order, fingerprint, stretch, raw_keys, movie_id = fields
    if sort_by not in ("id", *SORT_COLUMNS) or sort_order not in ("asc", "desc"):
        raise InvalidCursor()
    if not isinstance(fingerprint, str) or type(movie_id) is not int or type(stretch) is not int:
        raise InvalidCursor()
    if not 1 <= movie_id <= INT8_MAX:
        raise InvalidCursor()
    order = stretches(sort_by, sort_order)
    if not 0 <= stretch < len(order):
        raise InvalidCursor()
    key_types = order[stretch].keys[:-1]
    if not isinstance(raw_keys, list) or len(raw_keys) != len(key_types):
        raise InvalidCursor()
    keys = tuple(_key_value(key, raw) for key, raw in zip(key_types, raw_keys, strict=True))
    return Position(sort_by, sort_order, fingerprint, stretch, keys, movie_id)
