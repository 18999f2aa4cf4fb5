"""What the image and `pip install .` really carry, checked outside the repository.

No Docker engine here, so the image is reproduced from its own recipe: the build context that
.dockerignore lets through, the build stage's COPY instructions into an /app of our own, and
the Dockerfile's own `pip install` of it, non-editable, into a fresh virtual environment that
knows nothing of this checkout. Then, from a folder outside the repository: every compose
service's command starts, `moviedb migrate` builds the schema on an empty database, and
`moviedb ingest` loads the sample.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import SAMPLE_CSV, _admin_url, _with_database
from tests.deploy.conftest import REPO, run
from tests.deploy.test_compose import APP_SERVICES, resolved
from tests.deploy.test_dockerfile import stages

pytestmark = pytest.mark.timeout(900)


def build_context() -> list[Path]:
    """The files `docker build .` would send: .dockerignore's rules, last match wins."""
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sent = []
    for name in tracked:
        included = True
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule[1:] if negate else rule
            pattern = pattern.rstrip("/")
            parts = Path(name).parts
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(
                fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.lstrip("*/"))
                for p in prefixes
            ):
                included = negate
        if included and (REPO / name).is_file():
            sent.append(Path(name))
    return sent


@dataclass(frozen=True)
class Image:
    app: Path  # the build stage's /app, as its COPY instructions fill it
    bin: Path  # the venv's bin directory, as /opt/venv/bin in the image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    root = tmp_path_factory.mktemp("image")
    context = root / "context"
    for name in build_context():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, context / name)
    app = root / "app"
    app.mkdir()
    build = stages()[0]
    for keyword, rest in build:
        if keyword == "COPY":
            *sources, target = shlex.split(rest)
            for source in sources:
                src = context / source
                dest = app / target if target not in ("./", ".") else app / source
                if src.is_dir():
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dest)
    (install,) = [
        rest for keyword, rest in build if keyword == "RUN" and "pip install --no-deps" in rest
    ]
    assert " -e " not in f" {install} ", "the image must install the package, not link the source"
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    # The image's two pip steps: its dependencies (pyproject's list), then the package itself.
    result = run([*pip, "install", "."], cwd=app, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return Image(app, venv / "bin")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory that is not the repository, with no path back to it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def image_env(image: Image, **extra: str) -> dict[str, str]:
    env = {
        "PATH": f"{image.bin}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LC_ALL": "C.UTF-8",
        **extra,
    }
    return env


@pytest.fixture
def empty_database() -> Iterator[str]:
    admin = _admin_url()
    name = f"moviedb_image_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_build_context_carries_the_package_and_not_the_workstation_tools() -> None:
    sent = {str(p) for p in build_context()}
    assert "functions/core/schema/migrations/0001_schema.sql" in sent
    assert "functions/poller.py" in sent
    assert not [p for p in sent if p.startswith(("local/", "tests/", "infra/", "bench/"))]


def test_the_installed_package_is_not_the_checkout(image: Image, outside: Path) -> None:
    result = run(
        [image.bin / "python", "-c", "import functions; print(functions.__file__)"],
        cwd=outside,
        env=image_env(image),
    )
    assert result.returncode == 0, result.stderr
    location = Path(result.stdout.strip())
    assert str(REPO) not in str(location) and "site-packages" in location.parts


def test_every_compose_service_command_starts_from_the_image(image: Image, outside: Path) -> None:
    config = resolved()
    for name in sorted(APP_SERVICES):
        command = config["services"][name]["command"]
        result = run(
            [image.bin / command[0], *command[1:], "--help"],
            cwd=outside,
            env=image_env(image),
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {command}\n{result.stdout}{result.stderr}"
        assert "usage: moviedb" in result.stdout, name


# the sample parsed in the worker, then in a parser process (functions/core/ingest/
# parse_process.py, a large file's way) started from the installed package
@pytest.mark.parametrize("parser_process_min_bytes", ["", "0"], ids=["in-worker", "in-child"])
def test_the_installed_package_migrates_an_empty_database_and_ingests_the_sample(
    image: Image, outside: Path, empty_database: str, parser_process_min_bytes: str
) -> None:
    env = image_env(
        image,
        DATABASE_URL=empty_database,
        MOVIEDB_DATA_DIR=str(outside / "data"),
        MOVIEDB_PARSER_PROCESS_MIN_BYTES=parser_process_min_bytes,
    )
    migrated = run([image.bin / "moviedb", "migrate"], cwd=outside, env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith("applied: 0001_schema"), migrated.stdout
    with psycopg.connect(empty_database) as conn:
        tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables")}
    assert {"movies", "uploads", "upload_rejections", "s3_objects"} <= tables

    sample = outside / "movies.csv"
    sample.write_bytes(SAMPLE_CSV.read_bytes())
    ingested = run(
        [image.bin / "moviedb", "ingest", "--json", sample], cwd=outside, env=env, timeout=120
    )
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    summary = json.loads(ingested.stdout)
    assert summary["status"] == "completed"
    assert summary["received"] == 10 and summary["inserted"] + summary["rejected"] == 10
