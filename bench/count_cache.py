"""Where should N processes share the listing's exact counts: PostgreSQL or Redis? Not a test.

    .venv/bin/python bench/count_cache.py                     # both, side by side, one run
    .venv/bin/python bench/count_cache.py --ops 20000 --rounds 5 --movies 0

Each candidate stores one entry per (catalogue version, filter fingerprint), as the shared count
cache does (functions/core/catalogue/counts.py):
- PostgreSQL: the UNLOGGED table `count_cache` keyed by (catalogue_version, filter_key), in a
  scratch database of its own (migrated, dropped at the end), through the service's own
  functions (functions/core/catalogue/count_store.py: lookup, store, single_flight);
- Redis: one key per entry, GET / SET EX with redis-py, in DB `--redis-db` (its keys deleted).

What is timed, per operation, from this one client process: wall time per call (median and
p99), the client's CPU time per call, and the server's (the PostgreSQL backend's or
redis-server's, from /proc: Linux, both on this machine):
- hit: the entry is there;
- miss + store: looked up, absent, then written (the count itself is not included);
- miss + store, single-flight: the same, then the lock that makes one process count while the
  others wait taken (uncontended), looked up again and written under it (a PostgreSQL advisory
  transaction lock; a redis-py `Lock`);
- for PostgreSQL, a hit on the request's own connection and a hit with a pool checkout (what it
  costs when the listing's connection is a replica's: the cache lives on the primary);
- the per-process layer (a cachetools TTLCache behind a lock), the floor;
- for scale, the counts themselves on `--movies` synthetic movies (bench/synthetic_movies.py).

Cases alternate within each round and `--rounds` repeats them (the machine is shared: ratios
measured side by side are what to read).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from cachetools import TTLCache
from psycopg_pool import ConnectionPool

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from synthetic_movies import load_movies  # noqa: E402

from functions.core.catalogue import count_store  # noqa: E402
from functions.core.schema import migrate  # noqa: E402

TTL = 300
COUNTS = {
    "no filter": "SELECT count(*) FROM movies",
    "language=fr": "SELECT count(*) FROM movies WHERE original_language = 'fr'",
    "release_year=2010 & language=en": (
        "SELECT count(*) FROM movies WHERE original_language = 'en'"
        " AND release_date >= '2010-01-01' AND release_date < '2011-01-01'"
    ),
}


TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pids: list[int]) -> float:
    """CPU seconds the server processes `pids` (PostgreSQL backends, redis-server) have used."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def timed(
    op: Callable[[int], object], ops: int, servers: list[int]
) -> tuple[list[float], float, float]:
    """Wall seconds of each call, and the client's and the servers' CPU seconds per call."""
    samples = []
    cpu, served = time.process_time(), server_cpu(servers)
    for i in range(ops):
        started = time.perf_counter()
        op(i)
        samples.append(time.perf_counter() - started)
    return samples, (time.process_time() - cpu) / ops, (server_cpu(servers) - served) / ops


class Cases:
    """Every timed operation, on the same keys."""

    def __init__(self, pg_url: str, redis_url: str, keys: int) -> None:
        self.keys = [uuid.uuid4().hex[:16] for _ in range(keys)]
        self.conn = psycopg.connect(pg_url, autocommit=True)
        self.pool = ConnectionPool(pg_url, min_size=1, max_size=1, kwargs={"autocommit": True})
        self.pool.wait()
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        with self.pool.connection() as pooled:
            pool_backend = pooled.info.backend_pid
        redis_server = int(self.redis.info("server")["process_id"])
        self.servers = {"pg": [self.conn.info.backend_pid], "pool": [pool_backend]}
        self.servers |= {"redis": [redis_server], "local": []}
        self.prefix = f"moviedb-bench:{uuid.uuid4().hex[:8]}:"
        self.local: TTLCache[tuple[int, str], int] = TTLCache(len(self.keys), TTL)
        self.local_lock = threading.Lock()
        self.version = 1  # stored entries
        self.fresh = itertools.count(10**9)  # versions nothing is stored under: lookups miss

    def close(self) -> None:
        for key in self.redis.scan_iter(self.prefix + "*"):
            self.redis.delete(key)
        self.redis.close()
        self.pool.close()
        self.conn.close()

    def fill(self) -> None:
        for n, key in enumerate(self.keys):
            count_store.store(self.conn, self.version, key, n, TTL)
            self.redis.set(self._rkey(self.version, key), f"{n}:{time.time() + TTL:.3f}", ex=TTL)
            self.local[(self.version, key)] = n

    def servers_of(self, case: str) -> list[int]:
        return self.servers["pool" if case == "pg_hit_checkout" else case.split("_")[0]]

    def _key(self, i: int) -> str:
        return self.keys[i % len(self.keys)]

    def _rkey(self, version: int, key: str) -> str:
        return f"{self.prefix}{version}:{key}"

    # --- PostgreSQL ---

    def pg_hit(self, i: int) -> None:
        assert count_store.lookup(self.conn, self.version, self._key(i)) is not None

    def pg_hit_checkout(self, i: int) -> None:
        with self.pool.connection() as conn:
            assert count_store.lookup(conn, self.version, self._key(i)) is not None

    def pg_miss_store(self, i: int) -> None:
        version = next(self.fresh)  # a fresh entry each time
        key = self._key(i)
        assert count_store.lookup(self.conn, version, key) is None
        count_store.store(self.conn, version, key, i, TTL)

    def pg_miss_store_locked(self, i: int) -> None:
        version = next(self.fresh)
        key = self._key(i)
        assert count_store.lookup(self.conn, version, key) is None
        with count_store.single_flight(self.conn, version, key):
            assert count_store.lookup(self.conn, version, key) is None
            count_store.store(self.conn, version, key, i, TTL)

    # --- Redis ---

    def redis_hit(self, i: int) -> None:
        assert self.redis.get(self._rkey(self.version, self._key(i))) is not None

    def redis_miss_store(self, i: int) -> None:
        name = self._rkey(next(self.fresh), self._key(i))
        assert self.redis.get(name) is None
        self.redis.set(name, f"{i}:{time.time() + TTL:.3f}", ex=TTL)

    def redis_miss_store_locked(self, i: int) -> None:
        name = self._rkey(next(self.fresh), self._key(i))
        assert self.redis.get(name) is None
        with self.redis.lock(name + ":lock", timeout=30, blocking_timeout=5, sleep=0.01):
            assert self.redis.get(name) is None
            self.redis.set(name, f"{i}:{time.time() + TTL:.3f}", ex=TTL)

    # --- the per-process layer ---

    def local_hit(self, i: int) -> None:
        with self.local_lock:
            assert self.local.get((self.version, self._key(i))) is not None


ROWS = [
    ("hit", "pg_hit", "redis_hit"),
    ("hit, pool checkout (replica reads)", "pg_hit_checkout", None),
    ("miss + store", "pg_miss_store", "redis_miss_store"),
    ("miss + store, single-flight lock", "pg_miss_store_locked", "redis_miss_store_locked"),
]


def scratch_database(admin_url: str) -> tuple[str, str]:
    name = f"moviedb_bench_counts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    return name, url


def count_costs(url: str, movies: int, repeat: int = 5) -> list[tuple[str, int, float]]:
    """(filter, matching movies, median seconds) of each exact count."""
    with psycopg.connect(url, autocommit=True) as conn:
        load_movies(conn, movies)
        results = []
        for name, statement in COUNTS.items():
            times, total = [], 0
            for _ in range(repeat):
                started = time.perf_counter()
                row = conn.execute(statement).fetchone()
                times.append(time.perf_counter() - started)
                total = int(row[0]) if row else 0
            results.append((name, total, statistics.median(times)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL where a scratch database may be created",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--ops", type=int, default=5000, help="calls per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1000, help="distinct filter sets")
    parser.add_argument("--movies", type=int, default=200_000, help="for the count costs; 0: skip")
    args = parser.parse_args()

    redis_url = urlunsplit(urlsplit(args.redis_url)._replace(path=f"/{args.redis_db}"))
    name, url = scratch_database(args.admin_url)
    try:
        migrate(url)  # the service's schema: table count_cache as migration 0008 makes it
        cases = Cases(url, redis_url, args.keys)
        try:
            cases.fill()
            for name_of in ("pg_hit", "redis_hit", "local_hit"):
                timed(getattr(cases, name_of), 500, [])  # warm up: prepared statements, sockets
            walls: dict[str, list[float]] = {}
            cpus: dict[str, list[float]] = {}
            served: dict[str, list[float]] = {}
            names = [n for _, *pair in ROWS for n in pair if n] + ["local_hit"]
            for _ in range(args.rounds):
                for case in names:
                    samples, cpu, server = timed(
                        getattr(cases, case), args.ops, cases.servers_of(case)
                    )
                    walls.setdefault(case, []).extend(samples)
                    cpus.setdefault(case, []).append(cpu)
                    served.setdefault(case, []).append(server)
        finally:
            cases.close()
        costs = count_costs(url, args.movies) if args.movies else []
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def us(seconds: float) -> str:
        return f"{seconds * 1e6:,.0f}"

    def figures(case: str | None) -> tuple[str, str, str, str, float]:
        if case is None:
            return "-", "-", "-", "-", float("nan")
        samples = sorted(walls[case])
        median = statistics.median(samples)
        p99 = samples[int(len(samples) * 0.99) - 1]
        client, server = statistics.median(cpus[case]), statistics.median(served[case])
        return us(median), us(p99), us(client), us(server), median

    print(
        f"{args.ops} calls x {args.rounds} rounds per case, {args.keys} keys, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; microseconds per call"
    )
    print()
    print(
        "| operation | PostgreSQL p50 | p99 | client CPU | server CPU "
        "| Redis p50 | p99 | client CPU | server CPU | PostgreSQL / Redis (p50) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, pg_case, redis_case in ROWS:
        *pg, pg_median = figures(pg_case)
        *rd, r_median = figures(redis_case)
        ratio = f"{pg_median / r_median:.2f}" if redis_case else "-"
        print(f"| {label} | {' | '.join(pg)} | {' | '.join(rd)} | {ratio} |")
    *local, _ = figures("local_hit")
    print(f"| per-process layer hit (TTLCache) | {' | '.join(local[:3])} | - | | | | | |")
    pg_hit = statistics.median(walls["pg_hit"])
    r_hit = statistics.median(walls["redis_hit"])
    if costs:
        print()
        print(f"Exact counts on {args.movies:,} synthetic movies (median of 5), for scale:")
        print()
        print("| filter | movies | count ms | / PostgreSQL hit | / Redis hit |")
        print("|---|---:|---:|---:|---:|")
        for label, total, seconds in costs:
            print(
                f"| {label} | {total:,} | {seconds * 1e3:.1f} | {seconds / pg_hit:,.0f}x "
                f"| {seconds / r_hit:,.0f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
