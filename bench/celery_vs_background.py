"""The two upload paths of the API side by side: background task vs Celery worker.

    python bench/celery_vs_background.py                       # 1M rows, each path once
    python bench/celery_vs_background.py --rows 200000 --repeat 3

The same generated file (bench/generate.py, cached in bench/out/) is sent to a real API server
(`moviedb serve`, a subprocess) as `POST /api/v1/upload?use_celery=false` and `...=true`; for
the Celery path a real `moviedb worker` (a subprocess, default options) is running and ready
before the clock starts. Each run gets a fresh, migrated, empty database, so both paths insert
every row. Time to `completed` is measured from the start of the POST to the moment the upload
record says `completed` (polled every 0.1 s): the transfer, the queueing and the ingestion.
Also printed: the POST alone, the wait from the answer until the upload is seen `processing`,
and the ingestion from then on. Before the timed upload, a one-row warm-up upload goes through
the same path on the same server and worker, so that first-use costs (imports, connections)
that a long-running server pays once are not counted.

Runs alternate between the paths (B C, then C B, ...); with --repeat N the medians are compared.
The machine is shared: read the figures as an order of magnitude, run again to compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: `functions` and `bench` from this checkout

from bench.generate import cached_dataset  # noqa: E402
from bench.ingest import fresh_database, resolve_admin_url  # noqa: E402

API_KEY = "bench-celery-vs-background"
WAIT_SECONDS = 3600.0


@dataclass
class Run:
    path: str  # "background" | "celery"
    total: float  # POST start -> status completed
    post: float  # POST start -> 202
    queued: float  # 202 -> first seen processing
    ingest: float  # first seen processing -> first seen completed
    counts: tuple[int, ...]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, probe, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.2)
    return value


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _server_up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/v1/ping", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


WARM_UP_CSV = (
    "budget,homepage,original_language,original_title,overview,release_date,revenue,runtime,"
    "status,title,vote_average,vote_count,production_company_id,genre_id,languages\r\n"
    "0.0,,xx,Warm-up,,1900-01-01,0.0,1,Released,Warm-up (bench),0.0,0.0,0,0,[]\r\n"
)


def _upload(base: str, path: str, content, filename: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/upload?use_celery={'true' if path == 'celery' else 'false'}",
        files={"file": (filename, content, "text/csv")},
        headers={"X-API-Key": API_KEY},
        timeout=None,
    )
    if answer.status_code != 202:
        raise SystemExit(f"{path}: upload answered {answer.status_code}: {answer.text}")
    return answer.json()["upload_id"]


def _state(url: str, upload_id: str | None) -> tuple[str, str | None]:
    """(status, error) of an upload; None: the latest one."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, error FROM uploads WHERE id = %s"
            if upload_id
            else "SELECT status, error FROM uploads ORDER BY created_at DESC LIMIT 1",
            (upload_id,) if upload_id else (),
        ).fetchone()
    return (row[0], row[1]) if row else ("missing", None)


def run_once(
    path: str, csv_path: Path, admin_url: str, redis_url: str, work: Path, *, verbose: bool
) -> Run:
    with fresh_database(admin_url, f"celery_{path}") as url:
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "MOVIEDB_CELERY_QUEUE": f"moviedb-bench-{uuid.uuid4().hex[:8]}",
            "MOVIEDB_API_KEY": API_KEY,
            "MOVIEDB_DATA_DIR": str(work / f"data-{path}-{uuid.uuid4().hex[:6]}"),
            "MOVIEDB_LOG_LEVEL": "WARNING",
        }
        log = work / f"{path}.log"
        processes = [_start(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)]
        try:
            if path == "celery":
                worker = _start(["worker", "--loglevel", "INFO"], env, log)
                processes.append(worker)
                _wait("the worker", lambda: " ready." in log.read_text(errors="replace"))
            base = f"http://127.0.0.1:{port}"
            _wait("the API server", lambda: _server_up(base))

            _upload(base, path, WARM_UP_CSV.encode(), "warm-up.csv")  # first-use costs
            _wait("the warm-up upload", lambda: _state(url, None) == ("completed", None))

            started = time.perf_counter()
            with csv_path.open("rb") as f:
                upload_id = _upload(base, path, f, csv_path.name)
            posted = time.perf_counter()
            seen_processing = None
            deadline = time.monotonic() + WAIT_SECONDS
            while (state := _state(url, upload_id))[0] not in ("completed", "failed"):
                if seen_processing is None and state[0] == "processing":
                    seen_processing = time.perf_counter()
                if time.monotonic() > deadline:
                    raise SystemExit(f"{path}: gave up waiting for the upload")
                time.sleep(0.1)
            done = time.perf_counter()
            status, error = state
            with psycopg.connect(url) as conn:
                counts = conn.execute(
                    "SELECT received, inserted, updated, unchanged, rejected FROM uploads"
                    " WHERE id = %s",
                    (upload_id,),
                ).fetchone()
        finally:
            for process in reversed(processes):
                _stop(process)
        if status != "completed" or counts is None:
            raise SystemExit(f"{path}: upload {status}: {error}")
        if verbose:
            print(f"  logs: {log}", file=sys.stderr)
        processing = seen_processing or done
        return Run(
            path=path,
            total=done - started,
            post=posted - started,
            queued=max(0.0, processing - posted),
            ingest=done - processing,
            counts=tuple(counts),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records (default 1M)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of both paths")
    parser.add_argument("--admin-url", help="PostgreSQL where databases may be created")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        help="broker for the Celery path (default: DB 11 of the local Redis)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print where the logs are")
    args = parser.parse_args(argv)

    print(f"$ {shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    print(f"commit {commit}, Python {platform.python_version()}, {os.cpu_count()} cores")
    csv_path, manifest, _ = cached_dataset(args.rows)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"file: {csv_path.name} ({args.rows:,} rows, {size_mb:,.0f} MB)")
    admin_url = resolve_admin_url(args.admin_url)

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="moviedb-bench-") as tmp:
        work = Path(tmp)
        for round_ in range(args.repeat):
            order = ("background", "celery") if round_ % 2 == 0 else ("celery", "background")
            for path in order:
                run = run_once(
                    path, csv_path, admin_url, args.redis_url, work, verbose=args.verbose
                )
                runs.append(run)
                print(
                    f"  {path:<10} total {run.total:7.1f} s  (POST {run.post:5.1f} s, "
                    f"wait {run.queued:4.1f} s, ingest {run.ingest:6.1f} s)  "
                    f"received {run.counts[0]:,} inserted {run.counts[1]:,} "
                    f"rejected {run.counts[4]:,}",
                    flush=True,
                )
    if any(r.counts != runs[0].counts for r in runs):
        raise SystemExit("the paths reported different counts")
    received, inserted, *_, rejected = runs[0].counts
    expected = (manifest.rows, manifest.expected_inserted, len(manifest.bad_lines))
    if (received, inserted, rejected) != expected:
        raise SystemExit(f"counts {runs[0].counts} differ from the manifest's {expected}")
    median = {
        path: statistics.median(r.total for r in runs if r.path == path)
        for path in ("background", "celery")
    }
    ratio = median["celery"] / median["background"]
    print(
        f"time to completed, median of {args.repeat}: background {median['background']:.1f} s, "
        f"celery {median['celery']:.1f} s -> celery/background = {ratio:.3f} "
        f"({(ratio - 1) * 100:+.1f}%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
