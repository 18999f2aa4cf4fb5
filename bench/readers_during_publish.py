"""Readers of the listing while a 1M-row upload publishes. Prints figures; not a test.

    .venv/bin/python bench/readers_during_publish.py            # 1M + 1M rows, 4 readers
    .venv/bin/python bench/readers_during_publish.py --readers 4 --before 10 --after 10 --keep

What it does:
1. a fresh database of its own (bench/ingest.py `fresh_database`: `bench_readers_<hex>`,
   migrated), loaded with the seed-42 file of `--rows` movies (bench/generate.py
   `cached_dataset`) by `moviedb ingest --json` (bench/ingest.py `run_pipeline`: a subprocess);
2. the API with one process (bench/api.py `start_api`), and the reference answers of the two
   listing requests below (their items and `total`), checked against SQL counts;
3. `--readers` threads, each on one keep-alive http.client connection, alternating the seed's
   page 1 with `count=exact` and a filtered listing with `count=exact`, recording every
   request's start, latency, status, `total`, item ids and ETag version; and a sampler that
   polls pg_locks every `--sample` seconds for the publishing transaction's locks on `movies`
   (SHARE: the rebuild, readers go on; ACCESS EXCLUSIVE: the swap, readers wait) and the
   backends waiting for a lock;
4. `--before` seconds of readers alone, then `moviedb ingest --json` of the seed-43 file (as
   many other movies: a publish this large rebuilds the catalogue beside the old one and swaps
   it, functions/core/ingest/rebuild.py), then `--after` seconds;
5. per phase (before, during: the load, the rebuild, the swap, after the commit; after): request
   count, p50, p99, max, errors; the slowest requests; a timeline; then the consistency check:
   every `total` seen must be the count before or the count after, and every page's items the
   page before or the page after (a reader never sees a half-published upload), with the pairing
   of items and total in each answer.

The database is dropped at the end unless --keep. The machine is shared: compare the phases
of one run with each other, not the figures with another machine's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.api import LISTING, SEED_SORT, start_api, stop_api  # noqa: E402
from bench.generate import cached_dataset  # noqa: E402
from bench.ingest import (  # noqa: E402
    describe_environment,
    fresh_database,
    load_average,
    resolve_admin_url,
    run_pipeline,
)
from bench.scaling import free_port  # noqa: E402
from functions.core.catalogue.query import MovieQuery  # noqa: E402
from functions.core.catalogue.statements import count_statement  # noqa: E402

PAGE_1 = "page=1&page_size=10&" + SEED_SORT + "&count=exact"
FILTERED = "release_year=2010&language=fr&sort_by=vote_average&sort_order=desc&count=exact"
READS = [("page 1", PAGE_1), ("filtered", FILTERED)]
ETAG_VERSION = re.compile(r'"v(\d+)-')

# The publishing transaction's locks on movies, the backends waiting for a lock, and what the
# active backends are doing: how many run the listing's count, and their wait events.
SAMPLE = """
WITH active AS (
    SELECT query, coalesce(wait_event_type || ':' || wait_event, 'CPU') AS waits
      FROM pg_stat_activity
     WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
)
SELECT coalesce(bool_or(l.mode = 'ShareLock' AND l.granted), false),
       coalesce(bool_or(l.mode = 'AccessExclusiveLock' AND l.granted), false),
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'),
       (SELECT count(*) FROM active WHERE query LIKE 'SELECT count(*) FROM movies%'),
       (SELECT string_agg(waits || ' x' || n, ', ' ORDER BY waits)
          FROM (SELECT waits, count(*) AS n FROM active GROUP BY waits) AS w)
  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation AND c.relname = 'movies'
 WHERE l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass
class Answer:
    kind: str
    started: float  # seconds since the run began
    seconds: float
    status: int  # 0: no HTTP answer (connection error, timeout)
    total: int | None = None
    ids: tuple[int, ...] = ()
    version: int | None = None  # of the ETag
    error: str = ""

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class Sample:
    at: float
    share: bool  # the publishing transaction holds SHARE on movies: the rebuild
    exclusive: bool  # ACCESS EXCLUSIVE: the swap
    waiting: int  # backends of the database waiting for a lock
    counting: int  # backends running the listing's count (SELECT count(*) FROM movies ...)
    waits: str  # the active backends' wait events ("CPU": none)


@dataclass
class Run:
    began: float = field(default_factory=time.monotonic)
    answers: list[list[Answer]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def now(self) -> float:
        return time.monotonic() - self.began


def _parse(kind: str, started: float, seconds: float, status: int, body: bytes, tag: str):
    answer = Answer(kind, started, seconds, status)
    match = ETAG_VERSION.match(tag or "")
    answer.version = int(match.group(1)) if match else None
    if status == 200:
        page = json.loads(body)
        answer.total = page["total"]
        answer.ids = tuple(item["id"] for item in page["items"])
    else:
        answer.error = body[:200].decode(errors="replace")
    return answer


def read_once(conn: http.client.HTTPConnection, kind: str, query: str, run: Run) -> Answer:
    started = run.now()
    try:
        conn.request("GET", f"{LISTING}?{query}")
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as e:
        conn.close()  # the next request opens a new connection
        return Answer(kind, started, run.now() - started, 0, error=repr(e))
    seconds = run.now() - started
    return _parse(kind, started, seconds, response.status, body, response.getheader("ETag", ""))


def reader(port: int, first: int, run: Run, out: list[Answer], timeout: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    turn = first
    while not run.stop.is_set():
        kind, query = READS[turn % len(READS)]
        turn += 1
        out.append(read_once(conn, kind, query, run))
    conn.close()


def sampler(url: str, every: float, run: Run) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not run.stop.is_set():
            at = run.now()
            row = conn.execute(SAMPLE).fetchone()
            assert row is not None
            run.samples.append(
                Sample(at, bool(row[0]), bool(row[1]), int(row[2]), int(row[3]), row[4] or "-")
            )
            time.sleep(every)


def reference(port: int, run: Run) -> dict[str, Answer]:
    """One answer of each request, readers idle: the state before or after."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        answers = {kind: read_once(conn, kind, query, run) for kind, query in READS}
    finally:
        conn.close()
    for answer in answers.values():
        if answer.status != 200:
            sys.exit(f"reference request {answer.kind} answered {answer.status}: {answer.error}")
    return answers


def sql_counts(url: str) -> dict[str, int]:
    """Each request's count, straight from the database (the API's own count statement)."""
    counts = {}
    with psycopg.connect(url) as conn:
        for kind, query in READS:
            params = dict(pair.split("=", 1) for pair in query.split("&"))
            statement = count_statement(MovieQuery.model_validate(params))
            row = conn.execute(statement.query, statement.params).fetchone()
            counts[kind] = int(row[0]) if row else 0
    return counts


# --- the report --------------------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


PHASE_HEADER = (
    f"{'phase':<44} {'from s':>7} {'to s':>7} {'requests':>8} {'req/s':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>8} {'errors':>6}"
)


def phase_row(name: str, start: float, end: float, answers: list[Answer]) -> str:
    if not answers:
        return f"{name:<44} {start:>7.1f} {end:>7.1f} {0:>8} (no request started)"
    ms = [1000 * a.seconds for a in answers]
    errors = sum(1 for a in answers if a.status != 200)
    rate = f"{len(answers) / (end - start):.0f}" if end - start >= 1 else "-"
    return (
        f"{name:<44} {start:>7.1f} {end:>7.1f} {len(answers):>8} {rate:>6} "
        f"{statistics.median(ms):>7.1f} {_percentile(ms, 0.99):>7.1f} {max(ms):>8.1f} "
        f"{errors:>6}"
    )


def window(samples: list[Sample], held: str) -> tuple[float, float, int] | None:
    """When the lock was held, bounded by the samples around those that saw it: from the last
    one before that did not see it to the first one after (the lock lasted at most that long),
    and how many samples saw it."""
    seen = [i for i, s in enumerate(samples) if getattr(s, held)]
    if not seen:
        return None
    start = samples[max(0, seen[0] - 1)].at
    end = samples[min(len(samples) - 1, seen[-1] + 1)].at
    return start, end, len(seen)


def report(
    answers: list[Answer],
    samples: list[Sample],
    marks: dict[str, float],
    before: dict[str, Answer],
    after: dict[str, Answer],
    bucket: float,
) -> bool:
    load_start, load_end = marks["ingest started"], marks["ingest ended"]
    rebuild = window(samples, "share")
    swap = window(samples, "exclusive")
    print(
        f"\nreaders started at 0.0 s; ingest from {load_start:.1f} s to {load_end:.1f} s "
        f"({load_end - load_start:.1f} s); readers stopped at {marks['readers stopped']:.1f} s"
    )
    if rebuild:
        print(
            f"rebuild (movies SHARE-locked by the publish, sampled every "
            f"{marks['sample']:.2f} s): {rebuild[0]:.1f} s to {rebuild[1]:.1f} s"
        )
    if swap:
        during = [s for s in samples if swap[0] <= s.at <= swap[1]]
        print(
            f"swap (ACCESS EXCLUSIVE on movies held): within {swap[0]:.2f} s to {swap[1]:.2f} s "
            f"(at most {swap[1] - swap[0]:.2f} s, seen by {swap[2]} sample(s)); backends waiting "
            f"for a lock then: at most {max(s.waiting for s in during)}"
        )
    else:
        print(
            "swap: not caught by the sampler (shorter than its interval); most backends waiting "
            f"for a lock at once: {max((s.waiting for s in samples), default=0)}"
        )

    def started_in(start: float, end: float) -> list[Answer]:
        return [a for a in answers if start <= a.started < end]

    print()
    print(PHASE_HEADER)
    print("-" * len(PHASE_HEADER))
    end = marks["readers stopped"]
    phases = [("before", 0.0, load_start), ("during (the whole ingest)", load_start, load_end)]
    if rebuild:
        swap_start = swap[0] if swap else rebuild[1]
        phases += [
            ("  load (until the publish locks movies)", load_start, rebuild[0]),
            ("  rebuild (movies SHARE-locked)", rebuild[0], swap_start),
            ("  swap (in flight during the exclusive lock)", *(swap[:2] if swap else (0, 0))),
            ("  after the commit, until the CLI exits", rebuild[1], load_end),
        ]
    phases.append(("after", load_end, end))
    for name, start, stop in phases:
        if "swap" in name:
            if not swap:
                continue
            chosen = [a for a in answers if a.started <= stop and a.ended >= start]
        else:
            chosen = started_in(start, stop)
        print(phase_row(name, start, stop, chosen))
    print("(a phase holds the requests that started in it; the swap row those in flight during it)")

    print(
        f"\nslowest requests (time from the start of the readers; the swap within {swap[0]:.2f} "
        f"to {swap[1]:.2f} s)"
        if swap
        else "\nslowest requests (time from the start of the readers)"
    )
    print(f"{'started s':>9} {'ended s':>9} {'ms':>8} {'request':<9} {'status':>6} {'total':>9}")
    for a in sorted(answers, key=lambda a: a.seconds, reverse=True)[:10]:
        print(
            f"{a.started:>9.2f} {a.ended:>9.2f} {1000 * a.seconds:>8.1f} {a.kind:<9} "
            f"{a.status:>6} {a.total if a.total is not None else '-':>9}"
        )

    if answers:
        slowest = max(answers, key=lambda a: a.seconds)
        seen = [s for s in samples if slowest.started <= s.at <= slowest.ended]
        print(
            f"\nthe sampler during the slowest request ({slowest.started:.2f} s to "
            f"{slowest.ended:.2f} s): time, movies locked SHARE / EXCLUSIVE, backends waiting "
            "for a lock, backends running the listing's count, active backends' wait events"
        )
        for sample in seen[:: max(1, len(seen) // 40)]:
            locks = ("S" if sample.share else "-") + ("X" if sample.exclusive else "-")
            counts = f"{sample.waiting:>2} {sample.counting:>2}"
            print(f"{sample.at:>9.2f} {locks} {counts}  {sample.waits}")

    print(f"\ntimeline, {bucket:.0f} s buckets by start time")
    print(
        f"{'from s':>7} {'requests':>8} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>8} {'errors':>6}  state"
    )
    t = 0.0
    while t < end:
        inside = started_in(t, t + bucket)
        going_on = []
        if load_start < t + bucket and t < load_end:
            going_on.append("ingest")
        if rebuild and rebuild[0] < t + bucket and t < rebuild[1]:
            going_on.append("rebuild")
        if swap and swap[0] < t + bucket and t <= swap[1]:
            going_on.append("SWAP")
        if inside:
            ms = [1000 * a.seconds for a in inside]
            failed = sum(1 for a in inside if a.status != 200)
            print(
                f"{t:>7.0f} {len(inside):>8} {len(inside) / bucket:>6.0f} "
                f"{statistics.median(ms):>7.1f} {_percentile(ms, 0.99):>7.1f} {max(ms):>8.1f} "
                f"{failed:>6}  {' '.join(going_on)}"
            )
        t += bucket

    # --- consistency: totals and items, before or after, never in between ----------------------
    print("\nconsistency: every answer's total and items against the state before and after")
    ok = True
    for kind, _ in READS:
        mine = [a for a in answers if a.kind == kind and a.status == 200]
        old, new = before[kind], after[kind]
        totals = Counter(a.total or 0 for a in mine)
        print(
            f"\n{kind}: total before {old.total:,}, after {new.total:,}; totals seen: "
            + ", ".join(f"{total:,} x{n}" for total, n in sorted(totals.items()))
        )
        stray = set(totals) - {old.total, new.total}
        if stray:
            ok = False
            print(f"  TOTALS NEITHER BEFORE NOR AFTER: {sorted(stray)}")
        if old.ids == new.ids:
            print("  the page is the same before and after: items cannot tell the states apart")

        def which(value: object, then: object, now: object) -> str:
            return "before" if value == then else "after" if value == now else "OTHER"

        pairs = Counter(
            (which(a.ids, old.ids, new.ids), which(a.total, old.total, new.total)) for a in mine
        )
        print(
            "  answers by (items, total): "
            + ", ".join(f"{i}/{t} x{n}" for (i, t), n in sorted(pairs.items()))
        )
        if any("OTHER" in pair for pair in pairs):
            ok = False
            print("  SOME ANSWERS ARE NEITHER THE STATE BEFORE NOR AFTER")
        mixed = [
            a
            for a in mine
            if which(a.ids, old.ids, new.ids) != which(a.total, old.total, new.total)
        ]
        if mixed:
            print(
                f"  {len(mixed)} answer(s) pair one state's items with the other's total, started "
                f"{min(a.started for a in mixed):.2f} s to {max(a.started for a in mixed):.2f} s"
            )
        tagged_new_old_items = [
            a
            for a in mine
            if a.version == new.version != old.version and a.ids == old.ids != new.ids
        ]
        if tagged_new_old_items:
            ok = False
            print(f"  {len(tagged_new_old_items)} answer(s) with the new ETag and the old items")
        versions = Counter(a.version or 0 for a in mine)
        print(
            f"  ETag versions seen: {dict(sorted(versions.items()))} (before v{old.version}, "
            f"after v{new.version})"
        )
    failures = [a for a in answers if a.status != 200]
    if failures:
        print(f"\nerrors: {len(failures)}; first: {failures[0].status} {failures[0].error}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="movies per file")
    parser.add_argument("--seed", type=int, default=42, help="first file; the second: seed + 1")
    parser.add_argument("--readers", type=int, default=4, help="reader threads")
    parser.add_argument("--before", type=float, default=10, help="seconds of readers before")
    parser.add_argument("--after", type=float, default=10, help="seconds of readers after")
    parser.add_argument("--sample", type=float, default=0.05, help="lock sampler interval (s)")
    parser.add_argument("--bucket", type=float, default=10, help="timeline bucket (s)")
    parser.add_argument("--timeout", type=float, default=120, help="a reader's socket timeout")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--admin-url", help="server for the database (bench/ingest.py's default)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)

    admin_url = resolve_admin_url(args.admin_url)
    describe_environment(admin_url)
    first_file, _, _ = cached_dataset(args.rows, args.seed)
    second_file, _, _ = cached_dataset(args.rows, args.seed + 1)
    print(f"files: {first_file.name}, {second_file.name}")

    with fresh_database(admin_url, "readers", keep=args.keep) as url:
        print(f"database {url.rsplit('/', 1)[1]}")
        seconds, _, summary = run_pipeline(url, first_file)
        print(
            f"first load: {seconds:.1f} s, inserted {summary.get('inserted'):,}, "
            f"rejected {summary.get('rejected')}, {load_average()}",
            flush=True,
        )
        args.port = free_port(args.port)
        server = start_api(url, args.port, 1)
        run = Run()
        try:
            before = reference(args.port, run)
            counts = sql_counts(url)
            for kind, answer in before.items():
                if answer.total != counts[kind]:
                    sys.exit(f"{kind}: the API says {answer.total}, SQL {counts[kind]}")
            print(
                "before: "
                + ", ".join(f"{k} total {a.total:,} (ETag v{a.version})" for k, a in before.items())
            )
            run = Run()  # the clock starts with the readers
            threads = []
            for index in range(args.readers):
                out: list[Answer] = []
                run.answers.append(out)
                threads.append(
                    threading.Thread(
                        target=reader, args=(args.port, index, run, out, args.timeout), daemon=True
                    )
                )
            threads.append(
                threading.Thread(target=sampler, args=(url, args.sample, run), daemon=True)
            )
            for thread in threads:
                thread.start()
            print(
                f"{args.readers} readers for {args.before:.0f} s, then the second load, then "
                f"{args.after:.0f} s; {load_average()}",
                flush=True,
            )
            time.sleep(args.before)
            marks = {"ingest started": run.now(), "sample": args.sample}
            seconds, _, summary = run_pipeline(url, second_file)
            marks["ingest ended"] = run.now()
            print(
                f"second load: {seconds:.1f} s, inserted {summary.get('inserted'):,}, updated "
                f"{summary.get('updated')}, rejected {summary.get('rejected')}, {load_average()}",
                flush=True,
            )
            time.sleep(args.after)
            run.stop.set()
            marks["readers stopped"] = run.now()
            for thread in threads:
                thread.join(timeout=args.timeout + 5)
            after = reference(args.port, run)
            counts = sql_counts(url)
            for kind, answer in after.items():
                if answer.total != counts[kind]:
                    sys.exit(f"{kind} after: the API says {answer.total}, SQL {counts[kind]}")
        finally:
            run.stop.set()
            stop_api(server)
        answers = sorted((a for out in run.answers for a in out), key=lambda a: a.started)
        ok = report(answers, run.samples, marks, before, after, args.bucket)
        errors = sum(1 for a in answers if a.status != 200)
        print(
            f"\nverdict: {'every answer is the state before or after' if ok else 'FAILED'}; "
            f"{len(answers):,} requests, {errors} errors; finished with {load_average()}"
        )
    return 0 if ok and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
