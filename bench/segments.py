"""The catalogue as segments, measured for a design decision (issue 11). Prints figures; not a
test, and not the service's schema.

A rebuild makes a large load's cost climb with the catalogue (bench/ingest.py --floor: the
rebuild alone, from pre-cleaned rows, costs about 1.7x more into a 1M catalogue than into an
empty one). The way out is a catalogue of segments: `movies` partitioned by a segment number,
each large load a new segment with indexes of its own, built over its rows only, attached at
publish. Its price is on the reading side: every listing walks each segment's index and merges
them (Merge Append), and the natural key is unique per segment only, so the pipeline would have
to keep it unique across them. This script measures that price before anyone builds it.

    python bench/api.py --rows 2000000 --database moviedb_bench_2m --duration 10  # one table
    python bench/segments.py --source moviedb_bench_2m --target moviedb_bench_2m_segments
    python bench/api.py --rows 2000000 --database moviedb_bench_2m_segments --duration 10

It copies the source database (CREATE DATABASE ... TEMPLATE: nothing may be connected to the
source), then in the copy replaces `movies` by a table partitioned by LIST (segment), the movies
split into `--segments` equal ranges of id, as consecutive loads would have made them, with
every index of `movies` built on the partitioned table (so on each segment): its primary and
natural keys as plain indexes (a unique index of a partitioned table must contain the
partition key). Then VACUUM ANALYZE, as bench/api.py does for one table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: `functions` and `bench` from this checkout

from bench.api import DEFAULT_ADMIN_URL, database_url  # noqa: E402
from functions.core.ingest.rebuild import movie_indexes  # noqa: E402

SEGMENTED = "movies_segmented"

_STORED_COLUMNS = """
    SELECT attname FROM pg_attribute
     WHERE attrelid = 'movies'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
     ORDER BY attnum
"""
_KEYS = """
    SELECT conname, pg_get_indexdef(conindid) FROM pg_constraint
     WHERE conrelid = 'movies'::regclass AND contype IN ('p', 'u')
"""


def copy_database(admin_url: str, source: str, target: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target))
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )


def _on_segmented(definition: str) -> sql.Composed:
    """`CREATE INDEX <name> ON movies_segmented USING ...` from one of movies' definitions
    (UNIQUE dropped: the partition key is not in it)."""
    head, using = definition.split(" USING ", 1)
    name = head.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
    return sql.SQL("CREATE INDEX {name} ON {table} USING {using}").format(
        name=sql.Identifier(name), table=sql.Identifier(SEGMENTED), using=sql.SQL(using)
    )


def segment(url: str, segments: int) -> dict[str, float]:
    """Replace `movies` by the same rows in `segments` partitions; timings."""
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        columns = [name for (name,) in conn.execute(_STORED_COLUMNS).fetchall()]
        indexes = [definition for _, definition in movie_indexes(conn)]
        indexes += [definition for _, definition in conn.execute(_KEYS).fetchall()]
        listed = sql.SQL(", ").join(map(sql.Identifier, columns))
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {t} (LIKE movies INCLUDING DEFAULTS INCLUDING GENERATED"
                    " INCLUDING STORAGE, segment integer NOT NULL) PARTITION BY LIST (segment)"
                ).format(t=sql.Identifier(SEGMENTED))
            )
            for k in range(segments):
                conn.execute(
                    sql.SQL("CREATE TABLE {p} PARTITION OF {t} FOR VALUES IN ({k})").format(
                        p=sql.Identifier(f"movies_segment_{k}"),
                        t=sql.Identifier(SEGMENTED),
                        k=sql.Literal(k),
                    )
                )
            total = conn.execute("SELECT max(id) FROM movies").fetchone()[0]  # type: ignore[index]
            conn.execute(
                sql.SQL(
                    "INSERT INTO {t} ({listed}, segment)"
                    " SELECT {listed}, least({last}, (id - 1) * {n} / {total}) FROM movies"
                ).format(
                    t=sql.Identifier(SEGMENTED),
                    listed=listed,
                    last=sql.Literal(segments - 1),
                    n=sql.Literal(segments),
                    total=sql.Literal(total),
                )
            )
        timings["copy_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("DROP TABLE movies CASCADE")  # frees the index names
        for definition in indexes:
            conn.execute(_on_segmented(definition))
        timings["indexes_s"] = time.perf_counter() - started
        conn.execute(
            sql.SQL("ALTER TABLE {t} RENAME TO movies").format(t=sql.Identifier(SEGMENTED))
        )
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) movies")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
        sizes = conn.execute(  # one scan for all the segments
            "SELECT tableoid::regclass::text, count(*) FROM movies GROUP BY 1 ORDER BY 1"
        ).fetchall()
    for name, rows in sizes:
        print(f"  {name}: {rows:,} movies")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="moviedb_bench_2m", help="a bench/api.py database")
    parser.add_argument("--target", default="moviedb_bench_2m_segments")
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="as bench/api.py's")
    args = parser.parse_args(argv)
    copy_database(args.admin_url, args.source, args.target)
    timings = segment(database_url(args.admin_url, args.target), args.segments)
    print(f"{args.target}: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
