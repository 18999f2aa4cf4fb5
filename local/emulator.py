"""The S3 + SQS emulator as a process of its own: moto's server (light, the default) or
LocalStack on the host (when installed in its Python 3.13 virtual environment).

Both deliver bucket notifications to SQS and move a message to its dead-letter queue after
maxReceiveCount receives, so the same code (infra/s3_resources.py, the poller, the ingest
handler) runs against either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from functions.core.config import get_settings

EMULATORS = ("moto", "localstack")
LOCALSTACK_PINS = (
    "localstack-core[runtime]",
    "cbor2<6",
    "pyopenssl==25.3.0",
    "cryptography>=46,<47",
    "service_identity",
)


class EmulatorUnavailable(RuntimeError):
    pass


@dataclass
class Emulator:
    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the emulator and every process it started (its own process group)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def free_port(host: str = "127.0.0.1", preferred: int = 0) -> int:
    """`preferred` when it is free, else any free port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError(f"no free port on {host}")


def moto_server_command() -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    if found is None:
        raise EmulatorUnavailable("moto_server is not installed (pip install 'moto[server]')")
    return [found]


def localstack_python() -> Path | None:
    """LocalStack's interpreter, when LocalStack is installed (`make localstack`)."""
    python = get_settings().localstack_venv / "bin" / "python"
    if not python.exists():
        return None
    probe = subprocess.run(  # noqa: S603 (our own interpreter)
        [str(python), "-c", "import localstack.runtime.main"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return python if probe.returncode == 0 else None


def available_emulators() -> list[str]:
    return ["moto"] + (["localstack"] if localstack_python() else [])


def _ready(name: str, endpoint: str) -> bool:
    url = f"{endpoint}/_localstack/health" if name == "localstack" else f"{endpoint}/moto-api/"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own endpoint)
            body = answer.read()
    except (urllib.error.URLError, OSError):
        return False
    if name == "localstack":
        services = json.loads(body).get("services", {})
        return all(services.get(s) in ("available", "running") for s in ("s3", "sqs"))
    return True


def start_emulator(
    name: str = "moto",
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    log: IO[bytes] | Path | None = None,
    timeout: float = 120.0,
) -> Emulator:
    """Start the emulator on host:port (a free port by default) and wait until it answers."""
    port = port or free_port(host)
    endpoint = f"http://{host}:{port}"
    env = dict(os.environ)
    if name == "moto":
        command = [*moto_server_command(), "-H", host, "-p", str(port)]
    elif name == "localstack":
        python = localstack_python()
        if python is None:
            raise EmulatorUnavailable(
                "LocalStack is not installed: `make localstack` installs it in "
                f"{get_settings().localstack_venv} (Python 3.13)"
            )
        command = [str(python), "-m", "localstack.runtime.main"]
        env.update(
            GATEWAY_SERVER="hypercorn",
            GATEWAY_LISTEN=f"{host}:{port}",
            LOCALSTACK_HOST=f"{host}:{port}",
            SERVICES="s3,sqs",
            SQS_ENDPOINT_STRATEGY="path",
            EAGER_SERVICE_LOADING="1",
            DNS_ADDRESS="0",
            SKIP_SSL_CERT_DOWNLOAD="1",
            DISABLE_EVENTS="1",
        )
    else:
        raise EmulatorUnavailable(f"unknown emulator {name!r} (one of {', '.join(EMULATORS)})")

    log_path = log if isinstance(log, Path) else None
    out: IO[bytes] | int
    if isinstance(log, Path):
        out = log.open("ab")
    elif log is None:
        out = subprocess.DEVNULL
    else:
        out = log
    process = subprocess.Popen(  # noqa: S603 (fixed command)
        command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    if isinstance(log, Path):
        out.close()  # type: ignore[union-attr]
    emulator = Emulator(name, endpoint, process, log_path, env)
    deadline = time.monotonic() + timeout
    while not _ready(name, endpoint):
        if process.poll() is not None:
            raise EmulatorUnavailable(
                f"{name} exited with code {process.returncode}"
                + (f" (log: {log_path})" if log_path else "")
            )
        if time.monotonic() > deadline:
            emulator.stop()
            raise EmulatorUnavailable(f"{name} did not answer on {endpoint} in {timeout:.0f}s")
        time.sleep(0.3)
    return emulator
