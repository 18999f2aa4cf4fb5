"""COPY of the parsed rows into a staging table, text against binary, side by side. Prints figures.

    .venv/bin/python bench/copy_format.py                 # 200,000 rows of the 1M file, 3 rounds
    .venv/bin/python bench/copy_format.py --rows 500000 --repeat 5

The pipeline's parser (functions/core/ingest/parsing.py) produces each value as PostgreSQL text,
and functions/core/ingest/staging.py COPYs them in the text format. Binary COPY needs typed
Python values instead (int, date, float, list), so its cost is the conversion plus the COPY. The
rows are parsed once, before timing; then, alternating in each round, into a fresh
`staging`-shaped temporary table (no index, as staging has none):

- text: `copy.write_row(row)` of the parser's rows, as the pipeline does;
- binary: the same rows converted to typed values (timed apart: "convert"), then
  `copy.set_types(...)` and `write_row` in the binary format.

Client CPU (`time.process_time`) and wall time up to COMMIT; the median of the rounds.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.generate import DEFAULT_SEED, cached_dataset  # noqa: E402
from functions.core.ingest.parsing import MOVIE_COLUMNS, MovieCsv  # noqa: E402
from functions.core.ingest.pipeline import CountingReader  # noqa: E402

TYPES = {
    "release_date": "date",
    "budget": "int8",
    "revenue": "int8",
    "runtime": "int4",
    "vote_average": "float4",
    "vote_count": "int4",
    "production_company_id": "int8",
    "genre_id": "int8",
    "languages": "text[]",
}
COLUMN_TYPES = ["int8", *(TYPES.get(c, "text") for c in MOVIE_COLUMNS)]
DDL = (
    "CREATE TEMP TABLE rows (line bigint, "
    + ", ".join(f"{c} {TYPES.get(c, 'text').replace('float4', 'real')}" for c in MOVIE_COLUMNS)
    + ")"
)


def parsed_rows(path: Path, limit: int) -> list[list[object]]:
    with path.open("rb") as raw:
        rows = (r for r in MovieCsv(CountingReader(raw)).rows() if isinstance(r, list))
        return list(itertools.islice(rows, limit))


def _typed(value: object, sql_type: str) -> object:
    if value is None:
        return None
    text = str(value)
    if sql_type in ("int8", "int4"):
        return int(text)
    if sql_type == "float4":
        return float(text)
    if sql_type == "date":
        return date.fromisoformat(text)
    if sql_type == "text[]":
        # the parser's PostgreSQL array literal, {"a","b"}: back to a list
        inner = text[1:-1]
        return [ast.literal_eval(part) for part in inner.split(",")] if inner else []
    return text


def typed_rows(rows: list[list[object]]) -> list[list[object]]:
    return [[_typed(v, t) for v, t in zip(row, COLUMN_TYPES, strict=True)] for row in rows]


def copy_in(url: str, rows: list[list[object]], *, binary: bool) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        conn.execute(DDL)
        statement = f"COPY rows FROM STDIN{' (FORMAT BINARY)' if binary else ''}"
        wall, cpu = time.perf_counter(), time.process_time()
        with conn.cursor() as cur, cur.copy(statement) as copy:
            if binary:
                copy.set_types(COLUMN_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    path, _, _ = cached_dataset(1_000_000, DEFAULT_SEED)
    rows = parsed_rows(path, args.rows)
    started = time.process_time()
    typed = typed_rows(rows)
    convert = time.process_time() - started
    figures: dict[str, list[tuple[float, float]]] = {"text": [], "binary": []}
    for _ in range(args.repeat):
        figures["text"].append(copy_in(args.url, rows, binary=False))
        figures["binary"].append(copy_in(args.url, typed, binary=True))
    print(f"{len(rows):,} parsed rows of {path.name}, {args.repeat} rounds, medians")
    print(f"{'format':<8} {'wall s':>8} {'client CPU s':>13} {'+ convert s':>12}")
    text_wall, text_cpu = (statistics.median(x) for x in zip(*figures["text"], strict=True))
    bin_wall, bin_cpu = (statistics.median(x) for x in zip(*figures["binary"], strict=True))
    print(f"{'text':<8} {text_wall:>8.2f} {text_cpu:>13.2f} {'-':>12}")
    print(f"{'binary':<8} {bin_wall:>8.2f} {bin_cpu:>13.2f} {convert:>12.2f}")
    print(
        f"binary / text: wall {bin_wall / text_wall:.2f}x, client CPU with the conversion "
        f"{(bin_cpu + convert) / text_cpu:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
