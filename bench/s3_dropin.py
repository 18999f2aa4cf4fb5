"""The S3 drop-in door under load: a large realistic CSV dropped in the emulated bucket, carried
by the notification and the poller to functions/ingest.py, and what it cost.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python bench/s3_dropin.py \\
        [--rows 200000] [--emulator moto|localstack]

Starts the emulator and one poller (`moviedb poll`), drops the file (bench/generate.py,
cached under bench/out/), and prints: file size, the time from the end of the upload to the
upload `completed`, rows/s, the counts against the file's manifest, and the poller's peak
resident memory (VmHWM) before and after: the object is streamed, so the peak should not grow
with the file size. The database should be one you can fill (its movies are overwritten).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "infra")]

from s3_resources import ResourceConfig, ensure_resources  # noqa: E402

from bench.generate import cached_dataset  # noqa: E402
from functions.core.schema import migrate  # noqa: E402
from local.emulator import start_emulator  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--emulator", choices=("moto", "localstack"), default="moto")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        parser.error("set DATABASE_URL to a database the benchmark may fill")
    migrate(database_url)

    path, manifest, _ = cached_dataset(args.rows)
    size = path.stat().st_size
    emulator = start_emulator(args.emulator)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": emulator.endpoint,
        "S3_BUCKET": "moviedb-bench",
        "SQS_QUEUE_NAME": "moviedb-bench",
        "SQS_DLQ_NAME": "moviedb-bench-dlq",
        "SQS_WAIT_SECONDS": "1",
        "MOVIEDB_LOG_LEVEL": "WARNING",
    }
    poller = None
    try:
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        resources = ensure_resources(ResourceConfig.from_env(env), session)
        poller = subprocess.Popen(
            [sys.executable, "-m", "functions.cli", "poll"], env=env, cwd=REPO
        )
        time.sleep(3)
        rss_before = peak_rss_mib(poller.pid)
        key = f"incoming/{path.name}"
        s3 = session.client("s3", endpoint_url=emulator.endpoint)
        started = time.monotonic()
        s3.upload_file(str(path), resources.bucket, key)
        uploaded = time.monotonic()
        etag = s3.head_object(Bucket=resources.bucket, Key=key)["ETag"].strip('"')
        with psycopg.connect(database_url, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT u.status, u.received, u.inserted, u.updated, u.unchanged, u.rejected,"
                    " u.error FROM s3_objects o JOIN uploads u ON u.id = o.upload_id"
                    " WHERE o.bucket = %s AND o.key = %s AND o.etag = %s",
                    (resources.bucket, key, etag),
                ).fetchone()
                if row and row[0] in ("completed", "failed"):
                    break
                time.sleep(0.2)
        done = time.monotonic()
        status, received, inserted, updated, unchanged, rejected, error = row
        print(f"emulator          {args.emulator}")
        print(f"file              {path.name}: {size / 2**20:.1f} MiB, {manifest.rows:,} rows")
        print(f"upload to bucket  {uploaded - started:.1f} s")
        print(
            f"event to done     {done - uploaded:.1f} s ({status}{': ' + error if error else ''})"
        )
        if received:
            print(f"rate              {received / (done - uploaded):,.0f} rows/s")
        print(
            f"counts            received {received}, inserted {inserted}, updated {updated}, "
            f"unchanged {unchanged}, rejected {rejected} "
            f"(manifest: {manifest.rows} rows, {manifest.expected_rejected} bad)"
        )
        print(
            f"poller peak RSS   {rss_before:.0f} MiB before, "
            f"{peak_rss_mib(poller.pid):.0f} MiB after"
        )
    finally:
        if poller is not None:
            poller.terminate()
            poller.wait()
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
