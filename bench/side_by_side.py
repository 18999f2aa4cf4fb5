"""Uploads side by side: two different files sent at the same moment, against one after the
other, and how long a short upload waits behind a long one. Optionally the same measurements
from another source tree (`--baseline TREE`, e.g. the commit before staged ingestion), in the
same run.

Each measurement runs `moviedb ingest --json FILE` processes (one per upload) against a fresh
migrated database, so they share nothing but the PostgreSQL server:
- together: both files started at once, wall time until both ended;
- one after the other: the first, then the second, wall time of both;
- short behind long: the long file started, then (once it is processing) a short one; the short
  one's wall time, against the short one alone.

    .venv/bin/python bench/side_by_side.py --rows 500000 --short-rows 1000 [--baseline TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.movie_files import write_movies  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"moviedb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(url: str, path: Path, tree: Path, data_dir: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "MOVIEDB_DATA_DIR": data_dir}
    if tree != REPO:
        env["PYTHONPATH"] = str(tree)
    return subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "ingest", "--json", str(path)],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes]) -> dict:
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"ingest failed: {err.decode()[-2000:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    if summary["status"] != "completed":
        raise SystemExit(f"ingest ended {summary['status']}: {summary}")
    return summary


def migrate(url: str, tree: Path, data_dir: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "MOVIEDB_DATA_DIR": data_dir}
    if tree != REPO:
        env["PYTHONPATH"] = str(tree)
    subprocess.run(
        [sys.executable, "-m", "functions.cli", "migrate"], cwd=tree, env=env, check=True
    )


def wait_processing(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute(
            "SELECT count(*) FROM uploads WHERE status = 'processing' AND rows_read > 0"
        ).fetchone()[0]:  # type: ignore[index]
            time.sleep(0.05)


def measure(admin_url: str, tree: Path, first: Path, second: Path, short: Path) -> dict:
    figures = {}
    with tempfile.TemporaryDirectory() as data_dir:
        with fresh_database(admin_url) as url:
            migrate(url, tree, data_dir)
            began = time.perf_counter()
            both = [start(url, first, tree, data_dir), start(url, second, tree, data_dir)]
            for process in both:
                finish(process)
            figures["together"] = time.perf_counter() - began
        with fresh_database(admin_url) as url:
            migrate(url, tree, data_dir)
            began = time.perf_counter()
            finish(start(url, first, tree, data_dir))
            finish(start(url, second, tree, data_dir))
            figures["one after the other"] = time.perf_counter() - began
        with fresh_database(admin_url) as url:
            migrate(url, tree, data_dir)
            began = time.perf_counter()
            finish(start(url, short, tree, data_dir))
            figures["short alone"] = time.perf_counter() - began
        with fresh_database(admin_url) as url:
            migrate(url, tree, data_dir)
            long = start(url, first, tree, data_dir)
            wait_processing(url)
            began = time.perf_counter()
            finish(start(url, short, tree, data_dir))
            figures["short behind long"] = time.perf_counter() - began
            finish(long)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000, help="rows of each large file")
    parser.add_argument("--short-rows", type=int, default=1000, help="rows of the short file")
    parser.add_argument("--baseline", type=Path, metavar="TREE", help="another source tree")
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL", DEFAULT_ADMIN_URL))
    args = parser.parse_args(argv)
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    first = write_movies(out / f"side-a-{args.rows}.csv", args.rows, prefix="First")
    second = write_movies(out / f"side-b-{args.rows}.csv", args.rows, prefix="Second")
    short = write_movies(out / f"side-short-{args.short_rows}.csv", args.short_rows, prefix="Short")
    trees = {"this tree": REPO, **({"baseline": args.baseline} if args.baseline else {})}
    print(
        f"two files of {args.rows:,} rows, a short one of {args.short_rows:,}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name, tree in trees.items():
        f = measure(args.admin_url, tree, first, second, short)
        print(
            f"{name}: together {f['together']:.1f} s, one after the other "
            f"{f['one after the other']:.1f} s (together / sequential "
            f"{f['together'] / f['one after the other']:.2f}); short upload alone "
            f"{f['short alone']:.1f} s, behind the long one {f['short behind long']:.1f} s "
            f"(waits {f['short behind long'] - f['short alone']:.1f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
