"""The server's peak memory against hostile uploads: a 200 MB line, a 50 MB field, and the
rejects download of each such upload, against a limit (250 MB).

    .venv/bin/python bench/hostile_memory.py [--line-mb 200] [--field-mb 50] [--limit-mb 250]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Starts `moviedb serve` on a fresh database (created on --admin-url, dropped at the end) and a
data directory of its own, writes each hostile file in a temporary directory (in 1 MiB blocks,
never whole in memory), uploads it through `POST /api/v1/upload` with the API key, waits for
the upload to finish, then downloads its rejects (`GET /uploads/{id}/rejects`, streamed). While
each step runs, the resident memory of the server's process tree is sampled (psutil, every
20 ms), and the kernel's own peak of the server process (VmHWM, reset before each step through
/proc/PID/clear_refs where that is allowed) is read after it: the step's peak is the larger.
Prints a Markdown table (case, peak RSS MB, limit MB, verdict, seconds, what happened) and exits
1 when a peak is at or over the limit. Figures: docs/benchmarks.md.

The hostile files (tests/e2e/test_hostile_memory.py measures the same way):
- **a 200 MB line**: the header, then one line of 200 MB (a single unquoted field, no line
  break): the parser reads no more than MAX_LINE_CHARS (4 Mi characters) of a line and rejects
  its record: one rejected record.
- **a 50 MB field**: the header, then a record whose `overview` is a quoted field of 50 MB of
  text with a line break every 100 characters (the shape an unterminated quote gives), then
  valid rows. The parser gives up on the field at 1 MiB and reads on line by line: thousands of
  rejected records, every one of them in the rejects download.

MB are MiB (2^20 bytes) throughout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ingest import fresh_database  # noqa: E402
from bench.memory import PeakSampler, tree_rss  # noqa: E402
from tests.api_support import API_KEY  # noqa: E402
from tests.e2e.server_process import serve  # noqa: E402
from tests.movie_files import HEADER, movie_rows  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MIB = 1024 * 1024
FIELD_LINE_CHARS = 100  # a line break every 100 characters of the 50 MB field

T = TypeVar("T")


# --- the hostile files, written in blocks ------------------------------------------------------


def _write_repeated(out: Any, piece: bytes, total: int) -> None:
    """`total` bytes of `piece` repeated, written 1 MiB at a time."""
    block = piece * (MIB // len(piece) + 1)
    block = block[: MIB - MIB % len(piece)]
    written = 0
    while written + len(block) <= total:
        out.write(block)
        written += len(block)
    out.write((piece * (total - written))[: total - written])


def write_long_line(path: Path, megabytes: int) -> Path:
    """The header, then one line of `megabytes` MB (a single unquoted field), then a line
    break."""
    with path.open("wb") as out:
        out.write(HEADER.encode())
        _write_repeated(out, b"x", megabytes * MIB)
        out.write(b"\r\n")
    return path


def write_long_field(path: Path, megabytes: int) -> Path:
    """The header, a record whose `overview` is a quoted field of `megabytes` MB with a line
    break every FIELD_LINE_CHARS characters, the rest of that record, then 10 valid rows."""
    line = b"y" * (FIELD_LINE_CHARS - 1) + b"\n"
    with path.open("wb") as out:
        out.write(HEADER.encode())
        out.write(b'1000.0,,en,The Long Field,"')
        _write_repeated(out, line, megabytes * MIB)
        out.write(b'",2001-01-01,0.0,90,Released,The Long Field,6.5,10.0,1,18,"[\'English\']"\r\n')
        out.write(movie_rows(10, prefix="After the field").encode())
    return path


# --- the server's memory -----------------------------------------------------------------------


@dataclass
class Measure:
    case: str
    peak_bytes: int
    seconds: float
    detail: str = ""

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / MIB


def measure(pid: int, case: str, step: Callable[[], T]) -> tuple[Measure, T]:
    """Run `step`, sampling the server's memory: its peak, and what `step` returned."""
    started = time.perf_counter()
    with PeakSampler(pid) as sampler:
        outcome = step()
    return Measure(case, sampler.peak, time.perf_counter() - started), outcome


# --- the steps, over HTTP ---------------------------------------------------------------------


def upload_and_wait(http: httpx.Client, path: Path, key: str, timeout: float = 600.0) -> dict:
    """POST the file (streamed from disk), then poll its status until it is finished."""
    with path.open("rb") as f:
        answer = http.post(
            "/api/v1/upload",
            files={"file": (path.name, f, "text/csv")},
            headers={"X-API-Key": key},
        )
    answer.raise_for_status()
    status_url = answer.json()["status_url"]
    deadline = time.monotonic() + timeout
    while (status := http.get(status_url).json())["status"] not in ("completed", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"upload still {status['status']} after {timeout:.0f} s")
        time.sleep(0.2)
    return status


def download_rejects(http: httpx.Client, upload_id: str) -> tuple[int, int]:
    """Stream the rejects CSV, keeping nothing: (bytes, lines)."""
    size = lines = 0
    with http.stream("GET", f"/api/v1/uploads/{upload_id}/rejects") as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return size, lines


def hostile_cases(
    http: httpx.Client,
    pid: int,
    key: str,
    workdir: Path,
    *,
    line_mb: int,
    field_mb: int,
    downloads: bool = True,
) -> list[Measure]:
    """Each hostile upload, then (with `downloads`) its rejects download, each measured."""
    results: list[Measure] = []
    files = [
        (f"one {line_mb} MB line", write_long_line(workdir / "long-line.csv", line_mb)),
        (f"one {field_mb} MB field", write_long_field(workdir / "long-field.csv", field_mb)),
    ]
    for label, path in files:
        taken, status = measure(pid, f"upload: {label}", partial(upload_and_wait, http, path, key))
        path.unlink()  # the server keeps its own copy
        if status["status"] != "completed" or not status["counts"]["rejected"]:
            raise RuntimeError(f"{label}: unexpected outcome {status}")
        counts = status["counts"]
        taken.detail = f"{counts['rejected']:,} of {counts['received']:,} records rejected"
        results.append(taken)
        if not downloads:
            continue
        download = partial(download_rejects, http, status["upload_id"])
        downloaded, (size, lines) = measure(pid, f"rejects download: {label}", download)
        downloaded.detail = f"{size / MIB:.1f} MB of CSV, {lines:,} lines"
        results.append(downloaded)
    return results


# --- a server of its own ----------------------------------------------------------------------


def table(results: list[Measure], idle: float, limit_mb: float) -> str:
    """A Markdown table: case, peak RSS MB, limit MB, verdict, seconds, what happened."""
    rows = [("case", "peak RSS MB", "limit MB", "verdict", "seconds", "what happened")]
    rows.append(("server idle, before the uploads", f"{idle:.0f}", "", "", "", ""))
    for result in results:
        verdict = "ok" if result.peak_mb < limit_mb else "OVER"
        rows.append(
            (
                result.case,
                f"{result.peak_mb:.0f}",
                f"{limit_mb:.0f}",
                verdict,
                f"{result.seconds:.1f}",
                result.detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {0, 3, 5}

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (width + 1) + ":") if i not in left else ("-" * (width + 2))
            for i, width in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line-mb", type=int, default=200)
    parser.add_argument("--field-mb", type=int, default=50)
    parser.add_argument("--limit-mb", type=float, default=250)
    parser.add_argument(
        "--admin-url", default=os.environ.get("TEST_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="moviedb-hostile-") as tmp,
        fresh_database(args.admin_url, "hostile") as database_url,
        serve(database_url, Path(tmp) / "data", MOVIEDB_LOG_LEVEL="WARNING") as server,
        httpx.Client(base_url=server.base, timeout=600) as http,
    ):
        pid = server.process.pid
        idle = tree_rss(psutil.Process(pid)) / MIB
        results = hostile_cases(
            http, pid, API_KEY, Path(tmp), line_mb=args.line_mb, field_mb=args.field_mb
        )
    print(table(results, idle, args.limit_mb))
    if any(result.peak_mb >= args.limit_mb for result in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
