"""API worker processes and the CDN's 304 path, measured with wrk. Prints figures; not a test.

    .venv/bin/python bench/scaling.py                          # 1M movies, workers 1 2 4, -c8
    .venv/bin/python bench/scaling.py --workers 1 2 4 --rounds 2 --duration 10
    .venv/bin/python bench/scaling.py --rows 2000000 --database moviedb_bench_2m   # reuse it
    .venv/bin/python bench/scaling.py --skip-scaling           # only the 304 against full

Part 1, scaling: for each `--workers` count the full API (`functions.api:app`, uvicorn
`--workers N`, as bench/api.py starts it) on a database of `--rows` synthetic movies (bench/api.py
`prepare_database`: reused when it already holds them), each request warmed up, then wrk
`--connections` connections for `--duration` seconds against /ping, the seed's page 1 and one
filtered listing. A table per round: req/s, p50, p99, the speed-up against the first worker
count of the same round (1), req/s per core the workers can use (req/s / min(workers, CPUs)),
and where the CPU went during the run (in cores: API processes, PostgreSQL backends, wrk
itself, everything else on the machine) with the 1-minute load average. `--rounds` repeats the
worker counts, every other round in reverse order (the machine's load drifts), then a summary
of the medians.

Part 2, the 304 path: one server (`--cdn-workers`), the ETag of each listing URL fetched first,
then wrk against the URL without and with `If-None-Match: <that ETag>` (side by side), and the
CPU milliseconds per request of each (bench/api.py `cpu_per_request`: API processes +
PostgreSQL backends, one connection, 5 s). From the CPU cost per request, what a CDN in front
saves at a given hit ratio h: the origin answers the (1 - h) that reach it, either as full
answers (a cold cache, or the catalogue changed) or as 304 revalidations (the CDN's stale copy
is still current), against every request answered in full without a CDN.

The machine is shared (2 cores here, other people's tests and benchmarks beside): read ratios
measured side by side in one run, not absolute figures; the CPU columns show how much of the
machine was someone else's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api import (  # noqa: E402
    LISTING,
    SEED_SORT,
    _cpu_seconds,
    _server_pids,
    cpu_per_request,
    ensure_wrk,
    get_json,
    prepare_database,
    run_wrk,
    start_api,
    stop_api,
)
from bench.ingest import describe_environment, load_average  # noqa: E402

PING = "/api/v1/ping"
PAGE_1 = f"{LISTING}?page=1&page_size=10&{SEED_SORT}"
FILTERED = f"{LISTING}?release_year=2010&language=fr&sort_by=vote_average&sort_order=desc"
REQUESTS = [("ping", PING), ("page 1", PAGE_1), ("filtered", FILTERED)]
CPUS = os.cpu_count() or 1
HIT_RATIOS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


# --- where the CPU goes during a wrk run --------------------------------------------------------


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, all cores (Linux /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def _backends(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]


class CpuMeter:
    """CPU time, in cores, of the API processes, the database's PostgreSQL backends, the
    processes this script waited for (wrk) and the rest of the machine, between start() and
    stop()."""

    def __init__(self, server: subprocess.Popen, url: str) -> None:
        self.server, self.url = server, url

    def start(self) -> None:
        self.api = {pid: _cpu_seconds(pid) for pid in _server_pids(self.server)}
        self.pg = {pid: _cpu_seconds(pid) for pid in _backends(self.url)}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children = children.ru_utime + children.ru_stime
        self.machine = _machine_jiffies()
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self.started
        busy, total = _machine_jiffies()
        machine = CPUS * (busy - self.machine[0]) / max(1, total - self.machine[1])
        api = sum(_cpu_seconds(pid) - self.api.get(pid, 0.0) for pid in _server_pids(self.server))
        # backends the pools opened during the run count from zero
        pg = sum(_cpu_seconds(pid) - self.pg.get(pid, 0.0) for pid in _backends(self.url))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk = children.ru_utime + children.ru_stime - self.children
        cores = {"api": api / seconds, "pg": pg / seconds, "wrk": wrk / seconds}
        cores["others"] = max(0.0, machine - sum(cores.values()))
        return cores


def free_port(wanted: int) -> int:
    """`wanted` if nothing listens there, else (or for 0) a port the kernel says is free: a
    server of someone else's on the port would answer /ping for ours and be measured instead."""
    for port in (wanted, 0) if wanted else (0,):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    sys.exit("no free port")


# --- part 1: worker processes ------------------------------------------------------------------


def warm_up(wrk: str, base: str, connections: int) -> None:
    """Every request through every worker: pools, caches, the exact count of each filter set."""
    for _, path in REQUESTS:
        for _ in range(3):
            get_json(base, path)
        run_wrk(wrk, base + path, connections=connections, threads=2, duration=2)


def measure_workers(args: argparse.Namespace, wrk: str, url: str, workers: int) -> list[dict]:
    server = start_api(url, args.port, workers)
    base = f"http://127.0.0.1:{args.port}"
    rows = []
    try:
        warm_up(wrk, base, args.connections)
        meter = CpuMeter(server, url)
        for name, path in REQUESTS:
            meter.start()
            figures = run_wrk(
                wrk,
                base + path,
                connections=args.connections,
                threads=args.threads,
                duration=args.duration,
            )
            cores = meter.stop()
            rows.append(
                {
                    "workers": workers,
                    "request": name,
                    **figures,
                    **cores,
                    "load": os.getloadavg()[0],
                }
            )
    finally:
        stop_api(server)
    return rows


SCALING_HEADER = (
    f"{'workers':>7} {'request':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'x 1st':>6} "
    f"{'req/s/core':>10} {'API':>5} {'PG':>5} {'wrk':>5} {'other':>5} {'load':>5}"
)


def print_scaling_row(row: dict, first: dict[str, float]) -> None:
    speedup = row["rps"] / first[row["request"]]
    per_core = row["rps"] / min(row["workers"], CPUS)
    flags = ""
    if row.get("non_2xx"):
        flags += f"  {row['non_2xx']} non-2xx!"
    if row.get("socket_errors"):
        flags += f"  socket errors: {row['socket_errors']}"
    print(
        f"{row['workers']:>7} {row['request']:<9} {row['rps']:>7.0f} {row['p50']:>7.2f} "
        f"{row['p99']:>7.2f} {speedup:>5.2f}x {per_core:>10.0f} {row['api']:>5.2f} "
        f"{row['pg']:>5.2f} {row['wrk']:>5.2f} {row['others']:>5.2f} {row['load']:>5.1f}{flags}",
        flush=True,
    )


def scaling(args: argparse.Namespace, wrk: str, url: str) -> None:
    print(
        f"\n== worker processes: wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
        f"--latency, uvicorn --workers N, {CPUS} CPUs (shared with other work) ==\n"
        "x 1st: req/s against the first worker count of the same round; req/s/core: req/s / "
        "min(workers, CPUs);\nAPI, PG, wrk, other: CPU used during the run, in cores (other: "
        "the rest of the machine); load: 1-minute load average after the run"
    )
    every: list[dict] = []
    for round_ in range(args.rounds):
        order = args.workers if round_ % 2 == 0 else list(reversed(args.workers))
        print(f"\nround {round_ + 1}/{args.rounds}, workers in order {order}, {load_average()}")
        print(SCALING_HEADER)
        print("-" * len(SCALING_HEADER))
        rows = {n: measure_workers(args, wrk, url, n) for n in order}
        first = {row["request"]: row["rps"] for row in rows[args.workers[0]]}
        for n in args.workers:
            for row in rows[n]:
                print_scaling_row(row, first)
        every.extend(r for n in args.workers for r in rows[n])

    if args.rounds > 1:
        print(f"\nmedian of {args.rounds} rounds")
        print(SCALING_HEADER)
        print("-" * len(SCALING_HEADER))
        medians = []
        for n in args.workers:
            for name, _ in REQUESTS:
                runs = [r for r in every if r["workers"] == n and r["request"] == name]
                median = {
                    key: statistics.median(r[key] for r in runs)
                    for key in ("rps", "p50", "p99", "api", "pg", "wrk", "others", "load")
                }
                medians.append({"workers": n, "request": name, **median})
        first = {r["request"]: r["rps"] for r in medians if r["workers"] == args.workers[0]}
        for row in medians:
            print_scaling_row(row, first)
        every = medians
    print()
    for n in args.workers:
        listing = [r for r in every if r["workers"] == n and r["request"] != "ping"]
        api_cores = statistics.mean(r["api"] for r in listing)
        per_api_core = statistics.mean(r["rps"] / r["api"] for r in listing if r["api"])
        print(
            f"workers {n}: listing requests at {api_cores:.2f} cores of API CPU, "
            f"{per_api_core:.0f} req/s per core of API CPU"
        )


# --- part 2: the 304 path ----------------------------------------------------------------------


def fetch_etag(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=60) as answer:
        tag = answer.headers["ETag"]
        answer.read()
    if not tag or "'" in tag:
        sys.exit(f"no usable ETag on {path}: {tag!r}")
    return tag


def status_with(base: str, path: str, tag: str) -> int:
    request = urllib.request.Request(base + path, headers={"If-None-Match": tag})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def wrk_with_header(directory: str, wrk: str, name: str, header: str) -> str:
    """An executable that runs wrk with one more header: bench/api.py's run_wrk and
    cpu_per_request, unchanged, then send it with every request."""
    script = Path(directory, name)
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(wrk)} -H {shlex.quote(header)} "$@"\n')
    script.chmod(0o755)
    return str(script)


def not_modified(args: argparse.Namespace, wrk: str, url: str) -> None:
    server = start_api(url, args.port, args.cdn_workers)
    base = f"http://127.0.0.1:{args.port}"
    print(
        f"\n== the 304 path: uvicorn --workers {args.cdn_workers}, wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s without and with If-None-Match, then CPU per "
        f"request (one connection, 5 s), {load_average()} ==\n"
    )
    header = (
        f"{'request':<9} {'answer':<6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'API ms':>7} {'PG ms':>7} {'CPU ms':>7} {'load':>5}"
    )
    costs: dict[str, dict[str, float]] = {}
    try:
        warm_up(wrk, base, args.connections)
        with tempfile.TemporaryDirectory(prefix="moviedb-bench-wrk-") as directory:
            print(header)
            print("-" * len(header))
            api_ms, pg_ms = cpu_per_request(wrk, base, PING, url, server)
            costs["ping"] = {"full": api_ms + pg_ms}
            figures = run_wrk(
                wrk,
                base + PING,
                connections=args.connections,
                threads=args.threads,
                duration=args.duration,
            )
            print(
                f"{'ping':<9} {'200':<6} {figures['rps']:>7.0f} {figures['p50']:>7.2f} "
                f"{figures['p99']:>7.2f} {api_ms:>7.3f} {pg_ms:>7.3f} {api_ms + pg_ms:>7.3f} "
                f"{os.getloadavg()[0]:>5.1f}",
                flush=True,
            )
            for name, path in REQUESTS[1:]:
                tag = fetch_etag(base, path)
                status = status_with(base, path, tag)
                if status != 304:
                    sys.exit(f"{path} with If-None-Match {tag} answered {status}, not 304")
                revalidating = wrk_with_header(
                    directory, wrk, f"wrk-{name.replace(' ', '-')}", f"If-None-Match: {tag}"
                )
                costs[name] = {}
                rps = {}
                for answer, runner in (("200", wrk), ("304", revalidating)):
                    figures = run_wrk(
                        runner,
                        base + path,
                        connections=args.connections,
                        threads=args.threads,
                        duration=args.duration,
                    )
                    api_ms, pg_ms = cpu_per_request(runner, base, path, url, server)
                    costs[name]["full" if answer == "200" else "304"] = api_ms + pg_ms
                    rps[answer] = figures["rps"]
                    flags = f"  {figures['non_2xx']} non-2xx!" if figures["non_2xx"] else ""
                    print(
                        f"{name:<9} {answer:<6} {figures['rps']:>7.0f} {figures['p50']:>7.2f} "
                        f"{figures['p99']:>7.2f} {api_ms:>7.3f} {pg_ms:>7.3f} "
                        f"{api_ms + pg_ms:>7.3f} {os.getloadavg()[0]:>5.1f}{flags}",
                        flush=True,
                    )
                if fetch_etag(base, path) != tag:
                    sys.exit(f"the ETag of {path} changed during the run: figures void")
                costs[name]["rps_ratio"] = rps["304"] / rps["200"]
                print(f"  ETag {tag}")
    finally:
        stop_api(server)

    print()
    for name, _ in REQUESTS[1:]:
        cost = costs[name]
        print(
            f"{name}: a 304 costs {cost['304']:.3f} CPU ms against {cost['full']:.3f} for the "
            f"full answer ({cost['full'] / cost['304']:.2f}x less; /ping "
            f"{costs['ping']['full']:.3f} ms); req/s with If-None-Match / without: "
            f"{cost['rps_ratio']:.2f}"
        )
    print(
        "\nA CDN in front (origin CPU per client request, against every request answered in "
        "full without one):\nhit ratio h: the share the CDN answers from its cache; the rest "
        "reach the origin as full answers (cold, or the catalogue changed) or as revalidations "
        "(304)\n"
    )
    header = (
        f"{'request':<9} {'h':>5} | {'misses full: ms':>15} {'saves':>6} {'capacity':>8} | "
        f"{'misses 304: ms':>15} {'saves':>6} {'capacity':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, _ in REQUESTS[1:]:
        full, revalidated = costs[name]["full"], costs[name]["304"]
        for h in HIT_RATIOS:
            cells = []
            for per_miss in (full, revalidated):
                origin = (1 - h) * per_miss
                cells.append(f"{origin:>15.3f} {1 - origin / full:>6.1%} {full / origin:>7.1f}x")
            print(f"{name:<9} {h:>5.2f} | {cells[0]} | {cells[1]}")
    print(
        "\n(with max-age=5 s, a URL asked r times a second at one CDN edge reaches the origin at "
        "most once per 5 s there: h >= 1 - 1/(5 r), e.g. 0.8 at 1 req/s, 0.98 at 10, 0.998 at "
        "100; each of those is a 304 until a publish changes the ETag)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--database", default="moviedb_bench_api", help="reused when it holds the rows (bench/api)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--regenerate", action="store_true", help="drop and generate again")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1, help="repeat the worker counts")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--cdn-workers", type=int, default=1, help="processes for the 304 part")
    parser.add_argument("--skip-scaling", action="store_true", help="only the 304 part")
    parser.add_argument("--skip-cdn", action="store_true", help="only the worker counts")
    args = parser.parse_args(argv)

    describe_environment(args.admin_url)
    args.port = free_port(args.port)
    wrk = ensure_wrk()
    url = prepare_database(args.admin_url, args.database, args.rows, regenerate=args.regenerate)
    if not args.skip_scaling:
        scaling(args, wrk, url)
    if not args.skip_cdn:
        not_modified(args, wrk, url)
    print(f"\nfinished with {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
