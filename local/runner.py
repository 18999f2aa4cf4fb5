"""`moviedb local up` and `moviedb local drop FILE`: the S3 drop-in flow on one machine, with
no AWS account and no Docker.

`up` starts the emulator (moto's server, or LocalStack), creates the bucket, queue, dead-letter
queue and notification (infra/s3_resources.py), then starts the poller and the API as child
processes, on the embedded PostgreSQL unless DATABASE_URL is set. Ctrl-C stops all it started.
It leaves a note (`<data dir>/local-up.json`) so `drop`, run beside it, finds the bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from functions.core.config import get_settings
from functions.core.db import database_url
from functions.core.schema import migrate
from functions.core.uploads.records import ObjectVersion, find_s3_upload
from local.emulator import Emulator, free_port, start_emulator

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BUCKET = "moviedb-local"
DEFAULT_S3_PORT = 4566  # where LocalStack usually is: what AWS tooling examples assume
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@dataclass
class LocalStack:
    """What `local up` runs, as `drop` needs it."""

    emulator: str
    endpoint: str
    bucket: str
    incoming_prefix: str
    region: str
    api_url: str
    database_url: str
    pid: int


def state_file() -> Path:
    return get_settings().data_dir / "local-up.json"


def read_state() -> LocalStack | None:
    try:
        state = LocalStack(**json.loads(state_file().read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return None  # left by a runner that died
    return state


def _resources(endpoint: str, bucket: str) -> Any:
    sys.path.insert(0, str(REPO / "infra"))
    try:
        from s3_resources import ResourceConfig, ensure_resources
    finally:
        sys.path.remove(str(REPO / "infra"))
    settings = get_settings()
    return ensure_resources(
        ResourceConfig(
            bucket=bucket,
            incoming_prefix=settings.s3_incoming_prefix,
            queue_name=settings.sqs_queue_name,
            dlq_name=settings.sqs_dlq_name,
            max_receive_count=settings.sqs_max_receive_count,
            visibility_timeout=settings.sqs_visibility_timeout,
            endpoint_url=endpoint,
            region=settings.aws_region,
        )
    )


def _wait_for_api(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v1/ping", timeout=2).status_code < 500:
                return True
        time.sleep(0.3)
    return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def up(*, host: str, port: int, emulator_name: str, emulator_port: int | None) -> int:
    settings = get_settings()
    bucket = settings.s3_bucket or DEFAULT_BUCKET
    children: list[subprocess.Popen[bytes]] = []
    emulator: Emulator | None = None

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # stopped like Ctrl-C: everything it started
    signal.signal(signal.SIGINT, _interrupt)  # even when started with SIGINT ignored (`&`)
    try:
        print(f"starting {emulator_name} ...", flush=True)
        log = settings.data_dir / f"{emulator_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        emulator = start_emulator(
            emulator_name, port=emulator_port or free_port(preferred=DEFAULT_S3_PORT), log=log
        )
        db_url = database_url()  # the embedded PostgreSQL unless DATABASE_URL is set
        migrate(db_url)
        env = {
            **os.environ,
            **{k: v for k, v in EMULATOR_CREDENTIALS.items() if k not in os.environ},
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_REGION": settings.aws_region,
            "S3_BUCKET": bucket,
            "DATABASE_URL": db_url,
        }
        os.environ.update({k: env[k] for k in EMULATOR_CREDENTIALS})
        resources = _resources(emulator.endpoint, bucket)
        cli = [sys.executable, "-m", "functions.cli"]
        children.append(subprocess.Popen([*cli, "poll"], env=env))  # noqa: S603
        api = subprocess.Popen(  # noqa: S603
            [*cli, "serve", "--host", host, "--port", str(port)], env=env
        )
        children.append(api)
        api_url = f"http://{host}:{port}"
        if not _wait_for_api(api_url, api):
            print("the API did not start; stopping", file=sys.stderr)
            return 1
        state = LocalStack(
            emulator=emulator.name,
            endpoint=emulator.endpoint,
            bucket=bucket,
            incoming_prefix=settings.s3_incoming_prefix,
            region=settings.aws_region,
            api_url=api_url,
            database_url=db_url,
            pid=os.getpid(),
        )
        state_file().write_text(json.dumps(asdict(state)))
        _print_welcome(state, resources.queue_url, resources.dlq_url)
        while all(child.poll() is None for child in children) and emulator.alive():
            time.sleep(0.5)
        print("a process stopped; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        for child in reversed(children):
            _stop(child)
        if emulator is not None:
            emulator.stop()
        with contextlib.suppress(FileNotFoundError):
            running = read_state()
            if running is None or running.pid == os.getpid():
                state_file().unlink()


def _print_welcome(state: LocalStack, queue_url: str, dlq_url: str) -> None:
    prefix = f"s3://{state.bucket}/{state.incoming_prefix}"
    print(
        f"""
moviedb is running locally ({state.emulator} emulating S3 and SQS at {state.endpoint}).
  API:      {state.api_url}/docs
  bucket:   {prefix}   (CSV files dropped here are ingested)
  queue:    {queue_url}
  dead letters: {dlq_url}

Drop a file into the bucket, in another terminal:
  moviedb local drop movies.csv
or with the AWS CLI:
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url {state.endpoint} \\
      s3 cp movies.csv {prefix}
Then watch it:   curl -s {state.api_url}/api/v1/uploads
Large files, presigned:  curl -s -X POST {state.api_url}/api/v1/uploads -H "X-API-Key: $KEY" \\
      -H 'content-type: application/json' -d '{{"filename": "movies.csv", "size": 734003200}}'

Ctrl-C stops everything started here.
""",
        flush=True,
    )


def _s3(state: LocalStack) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=state.endpoint,
        region_name=state.region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )


def _wait_for_upload(state: LocalStack, key: str, etag: str, timeout: float) -> dict[str, Any]:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(state.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            upload = find_s3_upload(conn, ObjectVersion(state.bucket, key, etag))
            if upload is not None and upload.finished:
                fields = ("status", "received", "inserted", "updated", "unchanged", "rejected")
                return {
                    "upload_id": str(upload.id),
                    **{name: getattr(upload, name) for name in fields},
                    "error": upload.error,
                }
            time.sleep(0.5)
    return {"status": "still waiting", "key": key}


def drop(path: Path, *, wait: bool, timeout: float = 600.0) -> int:
    state = read_state()
    if state is None:
        print(
            "moviedb local drop: nothing is running; start `moviedb local up` first",
            file=sys.stderr,
        )
        return 2
    key = f"{state.incoming_prefix}{path.name}"
    s3 = _s3(state)
    s3.upload_file(str(path), state.bucket, key)
    etag = s3.head_object(Bucket=state.bucket, Key=key)["ETag"].strip('"')
    print(f"dropped {path} at s3://{state.bucket}/{key}", flush=True)
    if not wait:
        print(f"watch it: curl -s {state.api_url}/api/v1/uploads")
        return 0
    result = _wait_for_upload(state, key, etag, timeout)
    print(json.dumps(result, default=str))
    print(f"details: curl -s {state.api_url}/api/v1/uploads/{result.get('upload_id', '')}")
    return 0 if result["status"] == "completed" else 1
