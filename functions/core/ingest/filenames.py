"""The one file-name cleaner: a sent file's name as people know it, and as an S3 key part."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from functions.core.errors import MovieDbError

MAX_FILENAME_CHARS = 255  # a name as shown; a name in an S3 key is shorter
MAX_KEY_FILENAME_CHARS = 120


@dataclass
class InvalidFilename(MovieDbError, ValueError):
    filename: str

    def __str__(self) -> str:
        return f"{self.filename!r} is not a usable file name"


def clean_filename(filename: str | None) -> str:
    """The name as the user knows it, without any directory part (never used as a path).
    Raises InvalidFilename for a name with a control character (NUL cannot even be stored)."""
    if filename and any(unicodedata.category(char) == "Cc" for char in filename):
        raise InvalidFilename(filename)
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return (name or "upload.csv")[:MAX_FILENAME_CHARS]


def key_filename(filename: str) -> str:
    """A file name safe in an S3 key and for people: its last path part, letters, digits,
    `.`, `-`, `_` and spaces kept, the rest replaced, ending in `.csv` (the bucket notifies of
    `.csv` objects only). Raises InvalidFilename when nothing usable is left."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" ._-")
    stem = name[:-4] if name.lower().endswith(".csv") else name
    stem = stem.rstrip(" .")[: MAX_KEY_FILENAME_CHARS - 4].rstrip(" .")
    if not stem.strip("_"):
        raise InvalidFilename(filename)
    return f"{stem}.csv"
