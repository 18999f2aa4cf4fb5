"""The S3 drop-in flow as real processes, for the end-to-end tests: an emulator (moto's server
or LocalStack), the resources from infra/s3_resources.py, the API (`moviedb serve`) and the
poller (`moviedb poll`), wired by environment variables only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx

from local.emulator import Emulator, free_port, start_emulator
from tests.movie_files import HEADER, wait_for, write_movies

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "infra"))
from s3_resources import ResourceConfig, Resources, ensure_resources  # noqa: E402

sys.path.remove(str(REPO / "infra"))


__all__ = ["HEADER", "wait_for", "write_movies"]

API_KEY = "e2e-s3-key"
# Short enough that a redelivery comes within seconds; the lease shorter than the visibility
# timeout, so a message redelivered after a crash finds the dead poller's lease expired.
VISIBILITY_TIMEOUT = 6
LEASE_SECONDS = 4


@dataclass
class Stack:
    emulator: Emulator
    resources: Resources
    env: dict[str, str]
    api_url: str
    logs: Path
    s3: Any
    sqs: Any
    api: subprocess.Popen[bytes] | None = None
    poller: subprocess.Popen[bytes] | None = None
    poller_starts: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return self.resources.bucket

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=60, headers={"X-API-Key": API_KEY})

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "functions.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        log.close()
        self.processes.append(process)
        return process

    def start_poller(self) -> subprocess.Popen[bytes]:
        self.poller_starts += 1
        self.poller = self._start(f"poller-{self.poller_starts}", "poll")
        return self.poller

    def kill_poller(self) -> None:
        assert self.poller is not None
        self.poller.send_signal(signal.SIGKILL)
        self.poller.wait()

    def start(self) -> None:
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.api = self._start("api", "serve", "--host", "127.0.0.1", "--port", str(port))
        self.start_poller()

        def api_ready() -> bool:
            assert self.api is not None and self.api.poll() is None, "the API exited"
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.api_url}/api/v1/ping", timeout=2).status_code == 200
            return False

        wait_for("the API", api_ready, timeout=90)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.emulator.stop()

    def poller_log_lines(self, *needles: str) -> list[str]:
        """Lines of every poller's log holding all of `needles`."""
        return [
            line
            for log in sorted(self.logs.glob("poller-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if all(needle in line for needle in needles)
        ]

    def queue_depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def start_stack(name: str, *, database_url: str, logs: Path) -> Stack:
    logs.mkdir(parents=True, exist_ok=True)
    emulator = start_emulator(name, log=logs / f"{name}.log")
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": emulator.endpoint,
        "S3_BUCKET": f"moviedb-e2e-{suffix}",
        "S3_INCOMING_PREFIX": "incoming/",
        "SQS_QUEUE_NAME": f"moviedb-ingest-{suffix}",
        "SQS_DLQ_NAME": f"moviedb-ingest-dlq-{suffix}",
        "SQS_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "SQS_MAX_RECEIVE_COUNT": "3",
        "SQS_WAIT_SECONDS": "1",
        "MOVIEDB_UPLOAD_LEASE_SECONDS": str(LEASE_SECONDS),
        "MOVIEDB_API_KEY": API_KEY,
        "MOVIEDB_DATA_DIR": str(logs / "data"),
        "DATABASE_URL": database_url,
        "MOVIEDB_LOG_LEVEL": "INFO",
    }
    env.pop("S3_PUBLIC_ENDPOINT_URL", None)
    env.pop("SQS_QUEUE_URL", None)
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    try:
        resources = ensure_resources(ResourceConfig.from_env(env), session)
    except BaseException:
        emulator.stop()
        raise
    stack = Stack(
        emulator=emulator,
        resources=resources,
        env=env,
        api_url="",
        logs=logs,
        s3=session.client("s3", endpoint_url=emulator.endpoint),
        sqs=session.client("sqs", endpoint_url=emulator.endpoint),
    )
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    return stack
