"""Movie CSV files for tests, and polling: what the integration and end-to-end tests share."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HEADER = (
    "budget,homepage,original_language,original_title,overview,release_date,revenue,runtime,"
    "status,title,vote_average,vote_count,production_company_id,genre_id,languages\r\n"
)
# Generous: the machine is shared and slow. Waiting ends as soon as the condition holds.
WAIT_SECONDS = 300.0

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = WAIT_SECONDS) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.1)


def movie_rows(count: int, *, prefix: str = "Movie", start: int = 0) -> str:
    """`count` valid rows in the real format, each a distinct movie titled `prefix n`."""
    return "".join(
        f'30000000.0,,en,{prefix} {n},"A long overview of {prefix} {n}, with ""quotes"", '
        f'commas and enough words to look like the real export does.",'
        f"2001-01-{1 + n % 28:02d},0.0,{90 + n % 60},Released,{prefix} {n},"
        f"6.5,{n % 1000}.0,{n % 97},18,\"['English', 'Français']\"\r\n"
        for n in range(start, start + count)
    )


def write_movies(path: Path, count: int, *, prefix: str = "Movie") -> Path:
    """A file of `count` distinct valid movies (see `movie_rows`), written in blocks."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for start in range(0, count, 10_000):
            f.write(movie_rows(min(10_000, count - start), prefix=prefix, start=start))
    return path
