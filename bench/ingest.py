"""Ingestion benchmark: the real pipeline end to end against PostgreSQL's own COPY.

    python bench/ingest.py                                   # 1M rows, once (make bench-ingest)
    python bench/ingest.py --rows 100000 1000000 --repeat 3  # sizes alternate within each round
    python bench/ingest.py --rows 100000 1000000 --profile   # + the parse step alone, cProfile
    python bench/ingest.py --rows 1000000 --parse-only       # the parse step alone, no database
    python bench/ingest.py --rows 1000000 --second --floor   # + the floor of both loads

For each size it takes the generated file (bench/generate.py, cached in bench/out/) and, per run:

1. pipeline: `moviedb ingest --json FILE` as a subprocess against a fresh, migrated database
   (created on the server at --admin-url, dropped afterwards). Wall time from spawn to exit, so
   it includes interpreter start-up, the content hash and the migration check; peak RSS is the
   highest resident memory of that process and its parser process together (sampled every
   20 ms, bench/memory.py), or the `ru_maxrss` wait4() reports, when higher. The
   reported counts are checked against the generator's manifest.
2. reference: the rows the pipeline accepted, exported from its `movies` table with COPY TO
   (already normalised, one per natural key), COPYed into `ref`, created in another fresh
   migrated database as `CREATE TABLE ref (LIKE movies INCLUDING ALL)` so that it carries the
   same indexes, constraints and generated column as `movies`. Timed on the client, from the
   start of COPY FROM STDIN (the file streamed in 1 MiB blocks through psycopg) to COMMIT.
   The same COPY into a bare table (no index, no constraint) is shown beside it ("bare COPY"):
   the difference is what maintaining the indexes costs, in the reference and the pipeline alike.
3. with --floor: the least a staged, indexed load can cost (`floor_load`): the same pre-cleaned
   rows COPYed into a bare staging table, then published by the pipeline's own rebuild (every
   constraint and index built, ANALYZE, the swap), in a third fresh database; with --second,
   then the second file's inserted movies the same way into that catalogue. No parse, no
   validation, no change set, no history: what the pipeline cannot go below.
4. with --profile: the parse step alone (`MovieCsv` over the same file, no database), the CSV
   module alone (decode + csv.reader) and the CLI's content hash alone, to set against the
   pipeline's client CPU time (from wait4) and its idle time (wall - CPU: at least that long it
   waited for PostgreSQL). At the end, cProfile of the parse of the smallest file, the top
   functions by own time (the full profile is saved in bench/out/).

The machine is shared: runs alternate between sizes and --repeat N repeats the whole round;
the summary shows the median per size. The command line, Python and PostgreSQL versions and
the git commit are printed first so that the figures can be reproduced.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: `functions` and `bench` from this checkout

from bench.generate import DEFAULT_SEED, OUT_DIR, Manifest, cached_dataset  # noqa: E402
from bench.memory import PeakSampler  # noqa: E402
from functions.cli import SUMMARY_FIELDS  # noqa: E402
from functions.core.config import get_settings  # noqa: E402
from functions.core.ingest.intake import file_digest  # noqa: E402
from functions.core.ingest.parsing import MOVIE_COLUMNS, MovieCsv  # noqa: E402
from functions.core.ingest.pipeline import CountingReader  # noqa: E402
from functions.core.ingest.rebuild import rebuild  # noqa: E402
from functions.core.schema import migrate  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
COPY_BLOCK = 1 << 20
# What the pipeline writes into movies, and so what the reference COPY writes into ref.
LOADED_COLUMNS = (*MOVIE_COLUMNS, "last_upload_id")
OUTCOMES = tuple(name for name in SUMMARY_FIELDS if name != "received")
TARGET_RATIO, AIM_RATIO, TARGET_RSS_MB = 2.0, 1.5, 250.0
# issue 11: against the bare COPY into an empty catalogue; the second load against the first;
# the indexes against the table once both are loaded
TARGET_BARE_RATIO, AIM_BARE_RATIO, TARGET_SECOND_RATIO, TARGET_INDEX_RATIO = 6.0, 4.0, 1.3, 1.0


@dataclass
class Run:
    """One benchmark run of one file (times in seconds, sizes in 10^6 bytes)."""

    rows: int  # records in the file (= received)
    pipeline_seconds: float  # `moviedb ingest` wall time, spawn to exit
    cpu_seconds: float  # user + system CPU of the ingesting process
    peak_rss_mb: float  # of the ingesting process and its parser process together
    copy_rows: int  # rows in the reference COPY (the movies the pipeline loaded)
    copy_seconds: float  # the reference COPY, client side, start to COMMIT
    bare_copy_seconds: float  # the same COPY into a table without indexes
    # --profile, CPU seconds measured alone: the CLI's sha256 of the file, decode + csv module,
    # MovieCsv in full (read + normalise)
    hash_seconds: float | None = None
    read_seconds: float | None = None
    parse_seconds: float | None = None
    # --baseline: the same file through another source tree's pipeline (e.g. the previous
    # commit), in the same round, into its own fresh database
    baseline_seconds: float | None = None
    # --second: another file of as many different movies, loaded right after into the catalogue
    # the first one made; then the catalogue's sizes (MB). Likewise for the baseline tree.
    second_seconds: float | None = None
    table_mb: float | None = None
    indexes_mb: float | None = None
    baseline_second_seconds: float | None = None
    baseline_table_mb: float | None = None
    baseline_indexes_mb: float | None = None
    # --floor: the least a staged, indexed load can cost (`floor_load`): the first load's
    # accepted rows, then the second's, through COPY and the rebuild alone, in SQL
    floor_seconds: float | None = None
    floor_second_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.pipeline_seconds

    @property
    def ratio(self) -> float:
        return self.pipeline_seconds / self.copy_seconds

    @property
    def bare_ratio(self) -> float:
        return self.pipeline_seconds / self.bare_copy_seconds


# --- databases ---------------------------------------------------------------------------------


def resolve_admin_url(explicit: str | None) -> str:
    """A server where the benchmark may create databases: --admin-url, else DATABASE_URL, else
    127.0.0.1:5432, else the embedded PostgreSQL."""
    url = explicit or get_settings().database_url or DEFAULT_ADMIN_URL
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        if explicit:
            raise
        from functions.core.db import database_url

        url = database_url()
    return url


def _with_database(url: str, name: str) -> str:
    """The same server, another database (a URL: the migration tool needs one)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def fresh_database(admin_url: str, purpose: str, *, keep: bool = False) -> Iterator[str]:
    """A new, migrated database; dropped on exit unless `keep`."""
    name = f"bench_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(admin_url, name)
    try:
        migrate(url)
        yield url
    finally:
        if keep:
            print(f"  kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


# --- the three measurements --------------------------------------------------------------------


def run_pipeline(
    url: str, csv_path: Path, tree: Path = REPO
) -> tuple[float, resource.struct_rusage, dict[str, Any]]:
    """`moviedb ingest --json FILE` in a subprocess, from the source tree `tree` (this one by
    default): (wall seconds, its rusage, its summary)."""
    command = [sys.executable, "-m", "functions.cli", "ingest", "--json", str(csv_path)]
    with tempfile.TemporaryDirectory(prefix="moviedb-bench-") as data_dir:
        env = {**os.environ, "DATABASE_URL": url, "MOVIEDB_DATA_DIR": data_dir}
        if tree != REPO:
            env["PYTHONPATH"] = str(tree)  # ahead of this checkout's editable install
        out_path, err_path = Path(data_dir, "stdout"), Path(data_dir, "stderr")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=tree, env=env, stdout=out, stderr=err)
            with PeakSampler(process.pid) as memory:
                # wait4, not Popen.wait: it also returns the child's resource usage (ru_maxrss,
                # KiB: the largest of the process and the children it waited for)
                _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = out_path.read_text(), err_path.read_text()
    if process.returncode != 0 or not stdout.strip():
        raise RuntimeError(
            f"{shlex.join(command)} exited with {process.returncode}:\n{stdout}\n{stderr}"
        )
    summary = json.loads(stdout.strip().splitlines()[-1])
    # the pipeline's memory: its own and its parser process's together, at their peak
    summary["peak_rss_mb"] = max(usage.ru_maxrss * 1024, memory.peak) / 1e6
    return seconds, usage, summary


def export_accepted_rows(url: str, target: Path, upload_id: str | None = None) -> int:
    """The loaded movies (those `upload_id` inserted, when given), as COPY text, in load order:
    the pre-cleaned input of the reference."""
    columns = sql.SQL(", ").join(map(sql.Identifier, LOADED_COLUMNS))
    which = (
        sql.SQL(
            "WHERE id IN (SELECT movie_id FROM movie_changes"
            " WHERE upload_id = {} AND change = 'inserted')"
        ).format(upload_id)
        if upload_id
        else sql.SQL("")
    )
    query = sql.SQL("COPY (SELECT {} FROM movies {} ORDER BY id) TO STDOUT").format(columns, which)
    rows = 0
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cur,
        target.open("wb") as out,
        cur.copy(query) as copy,
    ):
        for block in copy:
            out.write(block)
            rows += bytes(block).count(b"\n")
    return rows


def run_reference_copy(url: str, copy_file: Path, *, like: str = "INCLUDING ALL") -> float:
    """COPY the pre-cleaned rows into `ref` (LIKE movies `like`); client-side seconds.

    `INCLUDING ALL`: the reference, with the indexes, constraints, identity and generated
    column of `movies`. Only defaults, identity and generated column: a bare table, no index,
    which shows what the indexes cost.
    """
    columns = sql.SQL(", ").join(map(sql.Identifier, LOADED_COLUMNS))
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE IF EXISTS ref; CREATE TABLE ref (LIKE movies {like})")
        conn.commit()
        with copy_file.open("rb") as source, conn.cursor() as cur:
            started = time.perf_counter()
            with cur.copy(sql.SQL("COPY ref ({}) FROM STDIN").format(columns)) as copy:
                while block := source.read(COPY_BLOCK):
                    copy.write(block)
            conn.commit()
            return time.perf_counter() - started


def floor_load(url: str, copy_file: Path) -> float:
    """The least a staged load into an indexed catalogue can cost, from pre-cleaned rows: COPY
    into a bare staging table, then the pipeline's own rebuild (functions/core/ingest/rebuild.py:
    the catalogue's rows and the staged ones into a new table, every constraint and index built,
    ANALYZE, the swap), committed. No parse, no validation, no change set, no history: what is
    left of the pipeline when those cost nothing. Client-side seconds, COPY to COMMIT."""
    columns = sql.SQL(", ").join(map(sql.Identifier, LOADED_COLUMNS))
    staged = sql.Identifier("floor_staging")
    with psycopg.connect(url) as conn:
        conn.execute(
            sql.SQL(
                "DROP TABLE IF EXISTS {staged}; CREATE TABLE {staged}"
                " (LIKE movies INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED)"
            ).format(staged=staged)
        )
        conn.commit()
        with copy_file.open("rb") as source, conn.cursor() as cur:

            def insert_staged(table: sql.Identifier) -> int:  # the rebuild's change set
                insert = sql.SQL("INSERT INTO {table} ({columns}) SELECT {columns} FROM {staged}")
                return cur.execute(
                    insert.format(table=table, columns=columns, staged=staged)
                ).rowcount

            started = time.perf_counter()
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staged, columns)) as copy:
                while block := source.read(COPY_BLOCK):
                    copy.write(block)
            rebuild(cur, insert_staged)
            conn.commit()
            seconds = time.perf_counter() - started
        conn.execute(sql.SQL("DROP TABLE {}").format(staged))
        conn.commit()
    return seconds


@contextlib.contextmanager
def _stream(csv_path: Path) -> Iterator[CountingReader]:
    """The file as the pipeline reads it: a raw stream through its byte-counting reader."""
    with csv_path.open("rb") as file:
        yield CountingReader(file)


# The parse-alone figures are CPU seconds of this (single-threaded) process, not wall time: on a
# shared machine they stay comparable with the pipeline's client CPU whatever else is running.


def time_hash(csv_path: Path) -> float:
    """CPU seconds of the content hash the CLI computes before registering the upload."""
    started = time.process_time()
    file_digest(csv_path)
    return time.process_time() - started


def time_parse(csv_path: Path) -> tuple[float, float, int]:
    """(read, parse) CPU seconds and records: the CSV module alone, then `MovieCsv` in full."""
    started = time.process_time()
    with _stream(csv_path) as stream:
        source: Any = stream  # a raw stream, as MovieCsv gets it
        text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="replace", newline="")
        for _ in csv.reader(text, strict=False):
            pass
    read_seconds = time.process_time() - started
    started = time.process_time()
    with _stream(csv_path) as stream:
        movie_csv = MovieCsv(stream)
        for _ in movie_csv.rows():
            pass
    return read_seconds, time.process_time() - started, movie_csv.counts.received


def profile_parse(csv_path: Path, top: int = 20) -> str:
    """cProfile of `MovieCsv` over the file: the `top` functions by own time."""
    profiler = cProfile.Profile(time.process_time)  # CPU time: robust on a busy machine
    with _stream(csv_path) as stream:
        profiler.enable()
        for _ in MovieCsv(stream).rows():
            pass
        profiler.disable()
    saved = OUT_DIR / f"parse-{csv_path.stem}.prof"
    profiler.dump_stats(saved)
    report = io.StringIO()
    stats = pstats.Stats(profiler, stream=report).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    return f"full profile: {saved} (snakeviz / python -m pstats)\n{report.getvalue()}"


# --- orchestration -----------------------------------------------------------------------------


def catalogue_sizes(url: str) -> tuple[float, float]:
    """(table, indexes) of `movies` in MB; the table is its heap alone (pg_relation_size: not
    its TOAST, which holds the longest overviews), the stricter measure to set indexes against."""
    with psycopg.connect(url) as conn:
        sizes = "SELECT pg_relation_size('movies'), pg_indexes_size('movies')"
        row = conn.execute(sizes).fetchone()
    assert row is not None
    return row[0] / 1e6, row[1] / 1e6


def load_twice(
    url: str,
    csv_path: Path,
    second: Path | None,
    copy_file: Path | None,
    tree: Path = REPO,
    second_copy_file: Path | None = None,
) -> tuple[float, resource.struct_rusage, dict[str, Any], int, tuple]:
    """The file into the fresh database `url` (its accepted rows exported to `copy_file`), then
    `second` into the catalogue it made (the movies it inserted exported to `second_copy_file`):
    (seconds, rusage, summary, rows exported, (second load's seconds, table MB, indexes MB) or
    Nones)."""
    seconds, usage, summary = run_pipeline(url, csv_path, tree)
    exported = export_accepted_rows(url, copy_file) if copy_file is not None else 0
    grown: tuple = (None, None, None)
    if second is not None:
        second_seconds, _, other = run_pipeline(url, second, tree)
        if not other.get("inserted"):
            raise SystemExit(f"the second file inserted nothing: {other}")
        grown = (second_seconds, *catalogue_sizes(url))
        if second_copy_file is not None:
            export_accepted_rows(url, second_copy_file, other["upload_id"])
    return seconds, usage, summary, exported, grown


def check_counts(summary: dict[str, Any], manifest: Manifest, loaded: int) -> list[str]:
    """What differs between the pipeline's report and what the generated file holds."""
    expected = {
        "status": "completed",
        "received": manifest.rows,
        "rejected": manifest.expected_rejected,
        "inserted": manifest.expected_inserted,
    }
    problems = [
        f"{name}: expected {value}, got {summary.get(name)}"
        for name, value in expected.items()
        if summary.get(name) != value
    ]
    if sum(summary[n] for n in OUTCOMES) != summary["received"]:
        problems.append(f"counts do not add up: {summary}")
    if loaded != summary["inserted"]:
        problems.append(f"{loaded} movies in the table, {summary['inserted']} inserted")
    return problems


def bench_once(
    admin_url: str,
    csv_path: Path,
    manifest: Manifest,
    *,
    profile: bool,
    keep: bool,
    baseline: Path | None = None,
    second: Path | None = None,
    floor: bool = False,
) -> Run:
    """Pipeline (then the second file into the same catalogue, --second), then the reference
    COPY of what the first loaded (then the floor of both loads, --floor; then the parse alone,
    --profile)."""
    copy_file = OUT_DIR / f"{csv_path.stem}.accepted.copy"
    second_copy_file = OUT_DIR / f"{csv_path.stem}.second.accepted.copy" if floor else None
    floors: tuple[float | None, float | None] = (None, None)
    try:
        with fresh_database(admin_url, "pipeline", keep=keep) as url:
            seconds, usage, summary, copy_rows, grown = load_twice(
                url, csv_path, second, copy_file, second_copy_file=second_copy_file
            )
        problems = check_counts(summary, manifest, copy_rows)
        if problems:
            raise SystemExit(f"{csv_path.name}: the pipeline's counts are wrong: {problems}")
        with fresh_database(admin_url, "reference", keep=keep) as url:
            copy_seconds = run_reference_copy(url, copy_file)
            bare_seconds = run_reference_copy(
                url, copy_file, like="INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED"
            )
        if floor:
            with fresh_database(admin_url, "floor", keep=keep) as url:
                first_floor = floor_load(url, copy_file)
                second_floor = (
                    floor_load(url, second_copy_file) if second_copy_file is not None else None
                )
                floors = (first_floor, second_floor)
    finally:
        copy_file.unlink(missing_ok=True)
        if second_copy_file is not None:
            second_copy_file.unlink(missing_ok=True)
    run = Run(
        rows=manifest.rows,
        pipeline_seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=summary["peak_rss_mb"],
        copy_rows=copy_rows,
        copy_seconds=copy_seconds,
        bare_copy_seconds=bare_seconds,
    )
    run.second_seconds, run.table_mb, run.indexes_mb = grown
    run.floor_seconds, run.floor_second_seconds = floors
    if baseline is not None:
        with fresh_database(admin_url, "baseline", keep=keep) as url:
            run.baseline_seconds, _, other, _, grown = load_twice(
                url, csv_path, second, None, baseline
            )
        run.baseline_second_seconds, run.baseline_table_mb, run.baseline_indexes_mb = grown
        if other.get("received") != summary["received"]:
            raise SystemExit(f"the baseline tree received {other.get('received')} records")
    if profile:
        run.hash_seconds = time_hash(csv_path)
        run.read_seconds, run.parse_seconds, _ = time_parse(csv_path)
    return run


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(title: str, runs: list[Run], *, profile: bool) -> None:
    headers = ["rows", "pipeline s", "rows/s", "COPY s", "ratio", "peak RSS MB", "client CPU s"]
    headers += ["bare COPY s", "x bare"]
    grown = any(r.second_seconds is not None for r in runs)
    if grown:
        headers += ["second load s", "x first", "table MB", "indexes MB"]
    if profile:
        headers += ["hash CPU s", "csv read CPU s", "parse CPU s"]
    lines = [headers]
    for r in runs:
        line = [
            f"{r.rows:,}",
            _fmt(r.pipeline_seconds),
            f"{r.rate:,.0f}",
            _fmt(r.copy_seconds),
            _fmt(r.ratio, ".2f"),
            _fmt(r.peak_rss_mb, ".0f"),
            _fmt(r.cpu_seconds),
            _fmt(r.bare_copy_seconds),
            _fmt(r.bare_ratio, ".2f"),
        ]
        if grown:
            line += [
                _fmt(r.second_seconds),
                _fmt(r.second_seconds / r.pipeline_seconds if r.second_seconds else None, ".2f"),
                _fmt(r.table_mb, ".0f"),
                _fmt(r.indexes_mb, ".0f"),
            ]
        if profile:
            line += [_fmt(r.hash_seconds), _fmt(r.read_seconds), _fmt(r.parse_seconds)]
        lines.append(line)
    widths = [max(len(row[i]) for row in lines) for i in range(len(headers))]
    print(f"\n{title}")
    for i, row in enumerate(lines):
        print("| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(runs: list[Run]) -> Run:
    """Runs of one size combined: the median of each time, the highest peak RSS.

    The median pipeline and COPY times are taken separately, so the ratio is the ratio of the
    medians.
    """

    def median(name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    return Run(
        rows=runs[0].rows,
        pipeline_seconds=median("pipeline_seconds"),
        cpu_seconds=median("cpu_seconds"),
        peak_rss_mb=max(r.peak_rss_mb for r in runs),
        copy_rows=runs[0].copy_rows,
        copy_seconds=median("copy_seconds"),
        bare_copy_seconds=median("bare_copy_seconds"),
        second_seconds=_median([r.second_seconds for r in runs]),
        table_mb=_median([r.table_mb for r in runs]),
        indexes_mb=_median([r.indexes_mb for r in runs]),
        baseline_seconds=_median([r.baseline_seconds for r in runs]),
        baseline_second_seconds=_median([r.baseline_second_seconds for r in runs]),
        baseline_table_mb=_median([r.baseline_table_mb for r in runs]),
        baseline_indexes_mb=_median([r.baseline_indexes_mb for r in runs]),
        floor_seconds=_median([r.floor_seconds for r in runs]),
        floor_second_seconds=_median([r.floor_second_seconds for r in runs]),
        hash_seconds=_median([r.hash_seconds for r in runs]),
        read_seconds=_median([r.read_seconds for r in runs]),
        parse_seconds=_median([r.parse_seconds for r in runs]),
    )


def print_verdict(summary: list[Run]) -> None:
    largest = max(summary, key=lambda r: r.rows)
    rss = max(r.peak_rss_mb for r in summary)

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(
        f"\n{largest.rows:,} rows: {largest.ratio:.2f}x the reference COPY (target "
        f"{TARGET_RATIO}x {met(largest.ratio <= TARGET_RATIO)}, aim {AIM_RATIO}x "
        f"{met(largest.ratio <= AIM_RATIO)}); peak RSS at most {rss:.0f} MB (target under "
        f"{TARGET_RSS_MB:.0f} MB {met(rss < TARGET_RSS_MB)})"
    )
    print(
        f"{largest.rows:,} rows into an empty catalogue: {largest.bare_ratio:.2f}x the bare COPY "
        f"(target {TARGET_BARE_RATIO}x {met(largest.bare_ratio <= TARGET_BARE_RATIO)}, aim "
        f"{AIM_BARE_RATIO}x {met(largest.bare_ratio <= AIM_BARE_RATIO)})"
    )
    if largest.second_seconds is not None and largest.indexes_mb and largest.table_mb:
        grow = largest.second_seconds / largest.pipeline_seconds
        size = largest.indexes_mb / largest.table_mb
        print(
            f"a second {largest.rows:,} into it: {largest.second_seconds:.1f} s, {grow:.2f}x the "
            f"first (target {TARGET_SECOND_RATIO}x {met(grow <= TARGET_SECOND_RATIO)}); then "
            f"indexes {largest.indexes_mb:,.0f} MB for a table of {largest.table_mb:,.0f} MB, "
            f"{size:.2f}x (target {TARGET_INDEX_RATIO}x {met(size <= TARGET_INDEX_RATIO)})"
        )
    if largest.floor_seconds is not None:
        floor = largest.floor_seconds
        print(
            f"the floor (COPY into staging, then the rebuild; no parse, validation, change set "
            f"or history): first load {floor:.1f} s, {floor / largest.bare_copy_seconds:.2f}x "
            f"the bare COPY, {largest.pipeline_seconds / floor:.2f}x of it the pipeline"
        )
        if largest.floor_second_seconds is not None:
            second_floor = largest.floor_second_seconds
            print(
                f"  second load {second_floor:.1f} s, {second_floor / floor:.2f}x the floor's first"
            )


def print_split(summary: list[Run]) -> None:
    """Where the pipeline's time goes: Python in the client, or waiting for PostgreSQL."""
    print("\nsplit (median seconds):")
    for r in summary:
        waiting = r.pipeline_seconds - r.cpu_seconds
        print(
            f"  {r.rows:>9,} rows: pipeline {r.pipeline_seconds:.1f} s wall = client CPU "
            f"{r.cpu_seconds:.1f} s (measured alone, in CPU s: parse {_fmt(r.parse_seconds)}, "
            f"of it csv read {_fmt(r.read_seconds)}; content hash {_fmt(r.hash_seconds)}) + client "
            f"idle {waiting:.1f} s (at least that long waiting for PostgreSQL; parsing runs "
            f"beside the database only as far as the pipeline overlaps them). Reference COPY "
            f"{r.copy_seconds:.1f} s."
        )


def describe_environment(admin_url: str | None) -> None:
    print(f"command: {shlex.join(sys.orig_argv)}")
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    server = "-"
    if admin_url:
        with psycopg.connect(admin_url) as conn:
            server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    print(
        f"commit {commit or '?'}, Python {platform.python_version()}, PostgreSQL {server}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}, {load_average()}"
    )


def load_average() -> str:
    """The machine's load (1, 5, 15 minutes): other work skews the figures on a shared host."""
    return "load average " + ", ".join(f"{load:.1f}" for load in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark `moviedb ingest` end to end against PostgreSQL's COPY of the "
        "same rows (see the module docstring for what is measured and how).",
    )
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000], help="file sizes (default 1000000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all sizes (default 1)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time the parse step alone (no database) and cProfile it",
    )
    parser.add_argument(
        "--parse-only", action="store_true", help="only the parse step and its profile, no database"
    )
    parser.add_argument(
        "--admin-url",
        help="server to create the benchmark databases on (default: DATABASE_URL, else "
        f"{DEFAULT_ADMIN_URL}, else the embedded PostgreSQL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument(
        "--second",
        action="store_true",
        help="then load another file of as many different movies (seed + 1) into the catalogue "
        "the first made, and report that load against the first and the catalogue's sizes",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time the least a staged, indexed load can cost (COPY into staging, then "
        "the rebuild, from the pre-cleaned rows): the first load, and the second with --second",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="TREE",
        help="also run the same file through the pipeline of another source tree (e.g. "
        "`git worktree add /tmp/base HEAD~1`), in the same round, and print the ratio",
    )
    args = parser.parse_args(argv)
    profile = args.profile or args.parse_only

    admin_url = None if args.parse_only else resolve_admin_url(args.admin_url)
    describe_environment(admin_url)
    datasets = {}
    for rows in args.rows:
        path, manifest, fresh = cached_dataset(rows, args.seed)
        how = f"generated in {manifest.seconds:.1f} s" if fresh else "cached"
        print(f"data: {path.relative_to(REPO)} ({manifest.size_bytes / 1e6:,.0f} MB, {how})")
        datasets[rows] = (path, manifest)
    seconds_files = {}
    if args.second:
        for rows in args.rows:
            path, manifest, fresh = cached_dataset(rows, args.seed + 1)
            print(f"second file: {path.relative_to(REPO)} ({manifest.size_bytes / 1e6:,.0f} MB)")
            seconds_files[rows] = path

    if args.parse_only:
        for rows, (path, _) in datasets.items():
            read, parse, received = time_parse(path)
            print(
                f"{rows:>9,} rows, CPU seconds: csv read {read:.1f} s, full parse {parse:.1f} s "
                f"({received / parse:,.0f} rows/s, normalising {parse - read:.1f} s)"
            )
    else:
        runs: dict[int, list[Run]] = {rows: [] for rows in args.rows}
        for round_ in range(args.repeat):
            for rows, (path, manifest) in datasets.items():
                run = bench_once(
                    admin_url,  # type: ignore[arg-type]
                    path,
                    manifest,
                    profile=profile,
                    keep=args.keep,
                    baseline=args.baseline,
                    second=seconds_files.get(rows),
                    floor=args.floor,
                )
                runs[rows].append(run)
                baseline = (
                    ""
                    if run.baseline_seconds is None
                    else f", baseline tree {run.baseline_seconds:.1f} s "
                    f"(this / baseline {run.pipeline_seconds / run.baseline_seconds:.2f})"
                )
                if run.second_seconds is not None:
                    baseline += f", second load {run.second_seconds:.1f} s"
                    if run.baseline_second_seconds is not None:
                        baseline += f" (baseline tree {run.baseline_second_seconds:.1f} s)"
                    baseline += (
                        f", catalogue: table {run.table_mb:,.0f} MB, indexes "
                        f"{run.indexes_mb:,.0f} MB"
                    )
                    if run.baseline_indexes_mb is not None:
                        baseline += f" (baseline tree {run.baseline_indexes_mb:,.0f} MB)"
                if run.floor_seconds is not None:
                    baseline += f", floor {run.floor_seconds:.1f} s"
                    if run.floor_second_seconds is not None:
                        baseline += f" (second {run.floor_second_seconds:.1f} s)"
                print(
                    f"round {round_ + 1}/{args.repeat}, {rows:,} rows: pipeline "
                    f"{run.pipeline_seconds:.1f} s, COPY {run.copy_seconds:.1f} s, "
                    f"bare COPY {run.bare_copy_seconds:.1f} s, ratio {run.ratio:.2f}, "
                    f"peak RSS {run.peak_rss_mb:.0f} MB{baseline}",
                    flush=True,
                )
        if args.repeat > 1:
            print_table("every run", [r for rs in runs.values() for r in rs], profile=profile)
        summary = [summarise(rs) for rs in runs.values()]
        print_table(
            f"median of {args.repeat} run(s) per size (peak RSS: the highest)",
            summary,
            profile=profile,
        )
        print_verdict(summary)
        print(f"finished with {load_average()}")
        if profile:
            print_split(summary)
    if profile:
        smallest = datasets[min(datasets)][0]
        print(f"\ncProfile of the parse step alone, {min(datasets):,} rows:")
        print(profile_parse(smallest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
