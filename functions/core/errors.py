"""Domain errors: they carry data, not HTTP codes. The API maps them in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


class MovieDbError(Exception):
    """Base of every error the core raises on purpose."""


@dataclass
class InvalidCsvHeader(MovieDbError):
    """The file's header row cannot be ingested; nothing was written."""

    missing: list[str]
    duplicated: list[str]

    def __str__(self) -> str:
        parts = []
        if self.missing:
            parts.append("missing required columns: " + ", ".join(self.missing))
        if self.duplicated:
            parts.append("duplicated columns: " + ", ".join(self.duplicated))
        return "invalid CSV header: " + "; ".join(parts or ["empty file"])


@dataclass
class UnsupportedLineEndings(InvalidCsvHeader):
    """The lines end with CR alone (classic Mac OS): refused rather than guessed at."""

    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            "the file's lines end with CR alone (classic Mac OS line endings): "
            "save it with LF or CRLF line endings"
        )


@dataclass
class TooManyRejectedRows(MovieDbError):
    rejected: int
    received: int
    max_error_rate: float

    def __str__(self) -> str:
        rate = self.rejected / self.received if self.received else 0.0
        return (
            f"{self.rejected} of {self.received} rows rejected ({rate:.1%}), "
            f"over the allowed error rate of {self.max_error_rate:.1%}"
        )


@dataclass
class UploadNotFound(MovieDbError):
    upload_id: str

    def __str__(self) -> str:
        return f"no upload with id {self.upload_id}"
