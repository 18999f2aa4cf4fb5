"""docker-compose.yml, checked by the real Compose binary (`config -q`, no Docker engine needed),
then the configuration it resolves: the services, their order, health checks and volumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.cli import build_parser
from tests.deploy.conftest import REPO, compose_binary, run
from tests.deploy.test_serverless import settings_env_names

APP_SERVICES = {"migrate", "api", "worker", "poller"}
# Not moviedb settings, but read from the environment by boto3 inside the app containers.
BOTO_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
HOOK = "infra/localstack/10-moviedb-resources.sh"


def compose(*args: str, env_file: Path | None = None) -> Any:
    """Run Compose on the repository's file, with an environment free of the caller's settings."""
    cmd: list[str | Path] = [
        compose_binary(),
        "--project-directory",
        REPO,
        "-f",
        "docker-compose.yml",
    ]
    if env_file is not None:
        cmd += ["--env-file", env_file]
    return run([*cmd, *args], cwd=REPO, env={"PATH": "/usr/bin:/bin", "HOME": str(REPO)})


def resolved(env_file: Path | None = None) -> dict[str, Any]:
    result = compose("config", "--format", "json", env_file=env_file)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return resolved()


def test_compose_accepts_the_file() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_accepts_the_file_with_the_documented_env_file() -> None:
    example = REPO / ".env.example"
    result = compose("config", "-q", env_file=example)
    assert result.returncode == 0, result.stderr
    config = resolved(example)
    url = config["services"]["api"]["environment"]["DATABASE_URL"]
    assert url == "postgresql://moviedb:change-me@postgres:5432/moviedb"


def test_compose_rejects_a_broken_file(tmp_path: Path) -> None:
    """The binary really validates (the check above could not pass by accident)."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  api:\n    image: x\n    depends_on:\n"
        "      nowhere:\n        condition: service_healthy\n"
    )
    result = run([compose_binary(), "-f", broken, "config", "-q"], env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "nowhere" in result.stderr


def test_the_stack_has_every_service(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"postgres", "redis", "localstack"} | APP_SERVICES


def test_services_come_up_in_order(config: dict[str, Any]) -> None:
    services = config["services"]

    def conditions(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[name].get("depends_on", {}).items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    ready = {
        "migrate": "service_completed_successfully",
        "redis": "service_healthy",
        "localstack": "service_healthy",
    }
    assert conditions("api") == ready
    assert conditions("worker") == ready
    assert conditions("poller") == {
        "migrate": "service_completed_successfully",
        "localstack": "service_healthy",
    }
    # every service waited on as healthy has a health check
    for name in services:
        for dependency, condition in conditions(name).items():
            if condition == "service_healthy":
                assert services[dependency]["healthcheck"]["test"], dependency


def test_long_running_services_have_health_checks(config: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "localstack", "api", "worker"):
        healthcheck = config["services"][name]["healthcheck"]
        assert healthcheck["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not healthcheck.get("disable"), name
    api_check = " ".join(config["services"]["api"]["healthcheck"]["test"])
    assert "/api/v1/ping" in api_check


def test_data_lives_in_named_volumes(config: dict[str, Any]) -> None:
    assert set(config["volumes"]) == {"pgdata", "redisdata", "localstackdata", "appdata"}

    def volume_targets(service: str) -> dict[str, str]:
        return {
            v["source"]: v["target"]
            for v in config["services"][service]["volumes"]
            if v["type"] == "volume"
        }

    assert volume_targets("postgres") == {"pgdata": "/var/lib/postgresql/data"}
    assert volume_targets("redis") == {"redisdata": "/data"}
    assert volume_targets("localstack") == {"localstackdata": "/var/lib/localstack"}
    for service in APP_SERVICES:
        assert volume_targets(service) == {"appdata": "/data"}, service


def test_localstack_runs_the_shared_resource_script_when_ready(config: dict[str, Any]) -> None:
    mounts = {
        v["target"]: Path(v["source"]).relative_to(REPO).as_posix()
        for v in config["services"]["localstack"]["volumes"]
        if v["type"] == "bind"
    }
    hook_target = "/etc/localstack/init/ready.d/10-moviedb-resources.sh"
    assert mounts[hook_target] == HOOK
    script = next(t for t, s in mounts.items() if s == "infra/s3_resources.py")
    assert script in (REPO / HOOK).read_text()
    assert (REPO / HOOK).stat().st_mode & 0o111, "LocalStack runs only executable shell hooks"


def test_the_app_services_share_one_image_and_run_real_commands(config: dict[str, Any]) -> None:
    parser = build_parser()
    for name in APP_SERVICES:
        service = config["services"][name]
        assert service["image"] == "moviedb:local"
        assert service["build"]["context"] == str(REPO)
        command = service["command"]
        assert command[0] == "moviedb", name
        parser.parse_args(command[1:])  # exits (fails the test) on an unknown command or option
    assert config["services"]["api"]["command"][:2] == ["moviedb", "serve"]
    assert config["services"]["worker"]["command"][:2] == ["moviedb", "worker"]
    assert config["services"]["poller"]["command"] == ["moviedb", "poll"]


def test_every_app_variable_is_a_setting(config: dict[str, Any]) -> None:
    known = settings_env_names() | BOTO_VARIABLES
    for name in APP_SERVICES:
        unknown = set(config["services"][name]["environment"]) - known
        assert not unknown, f"{name}: {sorted(unknown)} set no setting in functions/core/config.py"


def test_no_secret_has_a_real_default(config: dict[str, Any]) -> None:
    api = config["services"]["api"]["environment"]
    assert api["MOVIEDB_API_KEY"] == ""  # generated on first start unless configured
    assert api["AWS_ACCESS_KEY_ID"] == "test"  # LocalStack accepts any; never real keys


def test_the_lambda_override_for_the_local_stage_is_valid() -> None:
    result = compose(
        "-f", "infra/localstack/docker-compose.lambda.yml", "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    localstack = json.loads(result.stdout)["services"]["localstack"]
    assert "lambda" in localstack["environment"]["SERVICES"].split(",")
    assert "/var/run/docker.sock" in [v["target"] for v in localstack["volumes"]]
