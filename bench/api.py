"""Benchmark of the movie listing over HTTP: 1M movies, uvicorn, wrk. Prints figures; not a test.

    .venv/bin/python bench/api.py                      # generate (once) 1M movies, then measure
    .venv/bin/python bench/api.py --duration 30 --connections 8 --workers 2
    .venv/bin/python bench/api.py --rows 2000000 --database moviedb_bench_2m    # issue 11's
    .venv/bin/python bench/api.py --rows 2000000 --database moviedb_bench_2m_base \
        --tree /tmp/base                            # the same rows, another commit's indexes

What it does:
1. a database of its own (`--database`, default moviedb_bench_api on the local PostgreSQL)
   with `--rows` synthetic movies (bench/synthetic_movies.py: one INSERT ... generate_series,
   indexes built after, VACUUM ANALYZE); reused when it already holds them;
2. the full API (`functions.api:app`) under uvicorn with `--workers` processes;
3. wrk (Debian package `wrk`; installed with apt-get when missing and running as root) with
   `--connections` connections against /ping, then each listing request below, each warmed up
   first (the exact count of each filter set is then cached, as it is in steady use);
4. a table: requests/s, p50 and p99 latency, throughput as a share of /ping measured by the
   same server right before each request (the machine's load drifts during a run);
5. a second table: CPU milliseconds per request in the API processes and in PostgreSQL (one
   connection), and /ping's cost as a share of each: the throughput share the server would
   reach on a machine of its own (Linux only).

Targets (issues 3 and 11; one process, 4 connections, the defaults): p99 under 20 ms for each
listing request and at least 30% of /ping's throughput. The machine is shared: other
processes' load shows in the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from synthetic_movies import load_movies  # noqa: E402

from functions.core.schema import migrate  # noqa: E402

LISTING = "/api/v1/movies"
SEED_SORT = "sort_by=release_date&sort_order=desc"


DEFAULT_ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(admin_url: str, name: str) -> str:
    """The database `name` on the server of `admin_url`."""
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


def migrate_from(tree: Path, url: str) -> None:
    """The schema of the source tree `tree` (its own migrations: another commit's indexes)."""
    if tree == REPO:
        migrate(url)
        return
    code = "import sys; from functions.core.schema import migrate; migrate(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", code, url], cwd=tree, env=env, check=True)


def prepare_database(
    admin_url: str, name: str, rows: int, *, regenerate: bool, tree: Path = REPO
) -> str:
    url = database_url(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and regenerate:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    migrate_from(tree, url)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM movies").fetchone()
        present = row[0] if row else 0
        if present < rows * 0.99:
            print(f"generating {rows:,} movies into {name} ...", flush=True)
            timings = load_movies(conn, rows)
            print("  " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), flush=True)
        else:
            conn.execute("VACUUM (ANALYZE) movies")
        row = conn.execute(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('movies')) FROM movies"
        ).fetchone()
        assert row is not None
        print(f"database {name}: {row[0]:,} movies, {row[1]} with indexes", flush=True)
    return url


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is not installed: apt-get install -y wrk")


def get_json(base: str, path: str, timeout: float = 120) -> dict:
    with urllib.request.urlopen(base + path, timeout=timeout) as answer:
        return json.load(answer)


def start_api(url: str, port: int, workers: int, tree: Path = REPO) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "MOVIEDB_LOG_LEVEL": "WARNING"}
    if tree != REPO:
        env["PYTHONPATH"] = str(tree)  # ahead of this checkout's editable install
    command = [
        sys.executable, "-m", "uvicorn", "functions.api:app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=tree, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get_json(f"http://127.0.0.1:{port}", "/api/v1/ping", timeout=2)
        except OSError:
            time.sleep(0.3)
            continue
        time.sleep(0.5)
        # someone else's server on the port answers /ping too, while ours could not bind it
        if server.poll() is not None:
            sys.exit(f"the API exited ({server.returncode}): is port {port} taken?")
        return server
    stop_api(server)
    sys.exit("the API did not answer /api/v1/ping within 60 s")


def stop_api(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(wrk: str, url: str, *, connections: int, threads: int, duration: int) -> dict:
    result = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        # wrk leaves out a percentile it has no sample for (a run of a few slow requests):
        # NaN, which no target accepts
        "p50": _ms(percentiles["50"]) if "50" in percentiles else float("nan"),
        "p99": _ms(percentiles["99"]) if "99" in percentiles else float("nan"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pids(server: subprocess.Popen) -> list[int]:
    """The uvicorn process and its workers (same session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == server.pid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_per_request(wrk: str, base: str, path: str, url: str, server: subprocess.Popen) -> tuple:
    """CPU milliseconds per request spent by the API processes and by PostgreSQL, with one
    connection for 5 s: what a request costs, whatever else the machine is doing."""
    with psycopg.connect(url, autocommit=True) as conn:
        backends = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
    api = _server_pids(server)
    before_api = sum(_cpu_seconds(pid) for pid in api)
    before_pg = {pid: _cpu_seconds(pid) for pid in backends}
    out = subprocess.run(
        [wrk, "-t1", "-c1", "-d5s", base + path], capture_output=True, text=True, check=True
    ).stdout
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    api_ms = 1000 * (sum(_cpu_seconds(pid) for pid in api) - before_api) / count
    pg_ms = 1000 * sum(_cpu_seconds(pid) - before_pg[pid] for pid in backends) / count
    return api_ms, pg_ms


def requests_to_measure(base: str, deep_page: int) -> list[tuple[str, str]]:
    """The listing requests of issue 11's targets (and the deep page by number, for scale)."""
    page = f"{LISTING}?page=1&page_size=10&{SEED_SORT}"
    deep = f"{LISTING}?page={deep_page}&page_size=10&{SEED_SORT}"
    # The cursor equivalent of the deep page: the next_cursor of the page before it.
    before = get_json(base, f"{LISTING}?page={deep_page - 1}&page_size=10&{SEED_SORT}&count=none")
    cursor = f"{LISTING}?page_size=10&{SEED_SORT}&cursor={before['next_cursor']}"
    return [
        ("page 1 by release date (seed form)", page),
        (
            "release_year + language + sort_by=vote_average",
            f"{LISTING}?release_year=2010&language=fr&sort_by=vote_average&sort_order=desc",
        ),
        (
            "spoken_language + sort_by=vote_count",
            f"{LISTING}?spoken_language={quote('Français')}&sort_by=vote_count&sort_order=desc",
        ),
        ("q + min_votes", f"{LISTING}?q=love&min_votes=100"),
        (
            "year range by revenue",
            f"{LISTING}?year_from=1990&year_to=1999&sort_by=revenue&sort_order=desc",
        ),
        ("genre_id by title", f"{LISTING}?genre_id=35&sort_by=title"),
        (f"cursor of deep page {deep_page:,}", cursor),
        (f"deep page {deep_page:,} by number (offset {(deep_page - 1) * 10:,})", deep),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="moviedb_bench_api")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--regenerate", action="store_true", help="drop and generate again")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--tree",
        type=Path,
        default=REPO,
        help="serve from another source tree (e.g. `git worktree add /tmp/base <commit>`), on a "
        "database of its own migrations: that commit's indexes and queries, same rows",
    )
    args = parser.parse_args(argv)

    wrk = ensure_wrk()
    url = prepare_database(
        args.admin_url, args.database, args.rows, regenerate=args.regenerate, tree=args.tree
    )
    server = start_api(url, args.port, args.workers, args.tree)
    base = f"http://127.0.0.1:{args.port}"
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM movies").fetchone()
        total = row[0] if row else 0
        deep_page = 50_001 if total > 500_010 else max(2, total // 20)  # offset 500,000
        cases = [("ping", "/api/v1/ping"), *requests_to_measure(base, deep_page)]
        for _, path in cases:  # warm up: caches, pools, the count cache of each filter set
            for _ in range(4):
                get_json(base, path)
        print(
            f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
            f"uvicorn --workers {args.workers}, {total:,} movies, {os.cpu_count()} CPUs "
            f"(shared with other work)\n"
        )
        header = (
            f"{'request':<48} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'ping req/s':>10} {'% ping':>7}"
        )
        print(header)
        print("-" * len(header))

        def measure(path: str) -> dict:
            return run_wrk(
                wrk,
                base + path,
                connections=args.connections,
                threads=args.threads,
                duration=args.duration,
            )

        for name, path in cases:
            # /ping right before each request: the machine's load drifts during a run, so
            # each share is against the same server's /ping measured next to it.
            ping = measure("/api/v1/ping")
            figures = ping if name == "ping" else measure(path)
            share = 100 * figures["rps"] / ping["rps"]
            flags = ""
            for result in (ping, figures):
                if result["non_2xx"]:
                    flags += f"  {result['non_2xx']} non-2xx!"
                if result["socket_errors"]:
                    flags += f"  socket errors: {result['socket_errors']}"
            print(
                f"{name:<48} {figures['rps']:>7.0f} {figures['p50']:>7.2f} "
                f"{figures['p99']:>7.2f} {ping['rps']:>10.0f} {share:>6.0f}%{flags}",
                flush=True,
            )
        print(
            "\nCPU per request (one connection, 5 s; API processes + PostgreSQL backends): "
            "the cost of a request, independent of the machine's other load\n"
        )
        header = f"{'request':<48} {'API ms':>7} {'PG ms':>7} {'total':>7} {'ping/total':>10}"
        print(header)
        print("-" * len(header))
        ping_cost = None
        for name, path in cases:
            api_ms, pg_ms = cpu_per_request(wrk, base, path, url, server)
            total_ms = api_ms + pg_ms
            ping_cost = ping_cost or total_ms
            print(
                f"{name:<48} {api_ms:>7.3f} {pg_ms:>7.3f} {total_ms:>7.3f} "
                f"{100 * ping_cost / total_ms:>9.0f}%",
                flush=True,
            )
        print()
        for name, path in cases[1:]:
            print(f"  {name}: {path}")
    finally:
        stop_api(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
