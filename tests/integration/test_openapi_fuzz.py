"""Schemathesis against /openapi.json, through the ASGI app on the real PostgreSQL, with every
check it has (`--checks all`: server errors, status codes, content types, schemas and headers as
documented, schema-valid data accepted and schema-invalid data refused, the API key enforced,
methods and `Allow`, and, in the stateful run over the document's links, what a POST creates is
there and what a DELETE removes is gone).

Where the code enforces a rule that JSON Schema cannot state, the check is told about that rule
and only that rule (`UNSTATED_RULES`): the answer must then be the refusal the rule gives, and
nothing else passes."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from moto import mock_aws
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.engine.run import PhaseName

from functions.api import app
from functions.core.config import get_settings
from functions.core.ingest.dispatch import shutdown_in_process
from functions.core.s3.client import reset_clients
from functions.web.forms import CSV_CONTENT_TYPES
from tests.api_support import API_KEY, post_csv, reset_caches, wait_finished
from tests.conftest import SAMPLE_CSV
from tests.movie_files import HEADER, movie_rows

MOVIES = "GET /api/v1/movies"
NEW_WEBHOOK = "POST /api/v1/webhooks"
PRESIGNED = "POST /api/v1/uploads"

# A schema-valid request the service may still refuse, by a rule no JSON Schema keyword states:
# (operation, status) -> whether the refusal is the one that rule gives, for that request.
# positive_data_acceptance takes these statuses on these operations only, and
# `refused_only_by_unstated_rules` fails any such answer that is not the rule's.
ErrorRule = Callable[[Any, dict[str, Any]], bool]


def _listing_refusal(case: Any, error: dict[str, Any]) -> bool:
    """The listing's 422 for a rule across parameters or against what only the service knows."""
    unstated = {
        # a rule across two parameters (each query parameter has a schema of its own)
        "year_to": ("is before year_from",),
        # an opaque value: only a cursor the service issued, for the filters and sort it was
        # issued for, is valid; and a cursor goes with page 1 only (across two parameters)
        "cursor": (
            "cursor is invalid or was altered",
            "cursor is from another version",
            "this cursor belongs to another listing",
            "give either page or cursor, not both",
        ),
        # a name is looked up in the service's table of languages, ignoring case, accents,
        # spacing and look-alike letters: no enum says that (an enum of the spellings would
        # call "FRENCH" invalid, which the service takes)
        "language": ("unknown language",),
    }
    return error["code"] == "invalid_request" and all(
        detail["type"] == "value_error"
        and detail["loc"][0] == "query"
        and any(reason in detail["msg"] for reason in unstated.get(detail["loc"][1], ()))
        for detail in error["details"]
    )


def _over_the_size_limit(case: Any, error: dict[str, Any]) -> bool:
    """413: the declared size is over MAX_UPLOAD_BYTES, a setting of the deployment."""
    limit = error["details"]["max_bytes"]
    return error["code"] == "upload_too_large" and case.body["size"] > limit


UNSTATED_RULES: dict[tuple[str, int], ErrorRule] = {
    (MOVIES, 422): _listing_refusal,
    # where the webhook's host points (its DNS answer) is known at run time only
    (NEW_WEBHOOK, 422): lambda case, error: error["code"] == "unsafe_webhook_target",
    (PRESIGNED, 413): _over_the_size_limit,
}
# Documented answers that are 5xx by nature, for any request: a presigned upload where no
# bucket is configured (the stateless run has none, as `moviedb serve` on its defaults).
UNAVAILABLE: dict[tuple[str, int], ErrorRule] = {
    (PRESIGNED, 503): lambda case, error: error["code"] == "s3_not_configured",
}

STATEFUL_SCENARIOS = 15
# schemathesis' defaults, which the statuses above are added to
EXPECTED = {
    "positive_data_acceptance": ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"],
    "not_a_server_error": ["2xx", "3xx", "4xx"],
}


def _also_expected(check: str, rules: dict[tuple[str, int], ErrorRule]) -> list[dict[str, Any]]:
    """Per operation, `check` taking the statuses of its rules besides its default ones."""
    statuses: dict[str, list[str]] = {}
    for label, status in rules:
        statuses.setdefault(label, list(EXPECTED[check])).append(str(status))
    return [
        {"include-name": label, "checks": {check: {"expected-statuses": expected}}}
        for label, expected in statuses.items()
    ]


LANGUAGES = ["fr", "French", "Français", "FRANÇAIS", "Русский", "Pусский", "ja", "日本語", "de"]

SETTINGS: dict[str, Any] = {
    "auth": {"openapi": {"APIKeyHeader": {"api_key": API_KEY}}},
    "generation": {"max-examples": 25},
    # the live events of an upload stream until it ends: read the first, then stop
    "max-stream-events": 1,
    "request-timeout": 20,
    # names the service knows, half the time, so that the listing's other parameters are not
    # always hidden behind an unknown language
    "dictionaries": {"languages": {"values": LANGUAGES}},
    "parameters": {
        "query.language": {"dictionary": "languages", "probability": 0.5},
        "query.spoken_language": {"dictionary": "languages", "probability": 0.5},
    },
    "operations": [
        *_also_expected("positive_data_acceptance", UNSTATED_RULES),
        *_also_expected("not_a_server_error", UNAVAILABLE),
    ],
}
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", app, config=SchemathesisConfig.from_dict(SETTINGS)
)
# The stateful run: schemathesis' own engine, as `schemathesis run` drives it, for its stateful
# phase alone. The engine runs again a scenario in which Hypothesis saw the service's state change
# under it (what a state machine over a real database does), which a plain Hypothesis state
# machine reports as a flaky test.
workflows = schemathesis.openapi.from_asgi(
    "/openapi.json",
    app,
    config=SchemathesisConfig.from_dict(
        {
            **SETTINGS,
            "generation": {**SETTINGS["generation"], "max-examples": STATEFUL_SCENARIOS},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": True, "max-steps": 8},
            },
        }
    ),
)


@schemathesis.check
def refused_only_by_unstated_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """A refusal allowed above is the one its rule gives (the error's code and reason)."""
    key = (case.operation.label, response.status_code)
    rule = UNAVAILABLE.get(key)
    if rule is None and case.meta is not None and case.meta.generation.mode.is_positive:
        rule = UNSTATED_RULES.get(key)
    if rule is not None:
        assert rule(case, response.json()["error"]), f"refused for another reason: {response.text}"
    return None


@schema.hook
def map_case(ctx: Any, case: Any) -> Any:
    """A valid cursor is one the service issued (the stateful run follows `next_cursor`); a
    generated one would refuse every schema-valid listing it is part of, and hide the rest."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.operation.label == MOVIES and case.query:
        case.query.pop("cursor", None)
    return case


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """What the upload's `file` part is documented to be: a CSV file with the TMDB header row,
    then rows (valid, or rejected one by one: both are a valid upload)."""
    prefix = draw(st.text("abcdefxyz", min_size=1, max_size=8))
    rows = movie_rows(draw(st.integers(0, 3)), prefix=prefix)
    tail = draw(st.text(st.characters(exclude_characters="\r\x00"), max_size=40))
    return (HEADER + rows + tail).encode()


schemathesis.openapi.media_type(
    "text/csv", csv_files(), aliases=sorted(CSV_CONTENT_TYPES - {"text/csv"})
)


def _no_dns(host: str, port: int | str | None, *args: Any, **kwargs: Any) -> list[Any]:
    """Name resolution for the webhook checks without asking a DNS server: an address literal
    stays itself, every name stands for the loopback address."""
    try:
        return _getaddrinfo(host, port, *args, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return _getaddrinfo("127.0.0.1", port, *args)


_getaddrinfo = socket.getaddrinfo


@pytest.fixture(scope="module")
def fuzz_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    queue = f"moviedb-fuzz-{uuid.uuid4().hex[:8]}"  # use_celery=true: a queue nobody consumes
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE movies, movie_changes, upload_rejections, uploads RESTART IDENTITY CASCADE"
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIEDB_API_KEY", API_KEY)
        patch.setenv("MOVIEDB_DATA_DIR", str(data_dir))
        patch.setenv("MOVIEDB_CELERY_QUEUE", queue)
        # webhooks to any name are registered (nothing sends them in this process): the
        # process's name resolution is _no_dns for the run, so no generated host name is ever
        # sent to a DNS server
        patch.setenv("MOVIEDB_WEBHOOK_ALLOW_PRIVATE", "true")
        patch.setattr(socket, "getaddrinfo", _no_dns)
        patch.delenv("S3_BUCKET", raising=False)
        reset_caches()
        # a catalogue to list, page through and read: the sample file, uploaded
        seeded = post_csv(TestClient(app), SAMPLE_CSV.read_bytes())
        assert wait_finished(TestClient(app), seeded.json()["status_url"])["status"] == "completed"
        yield data_dir
        shutdown_in_process(wait=True)
        redis.Redis.from_url(get_settings().redis_url).delete(queue)
    reset_caches()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_pass_every_check(case: Any, fuzz_env: Path) -> None:
    case.call_and_validate()


@pytest.fixture
def bucket(fuzz_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process S3 with a bucket: uploads are stored there, presigned ones answered."""
    shutdown_in_process(wait=True)  # no ingestion of a file stored on disk is still running
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("S3_PUBLIC_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "fuzz",
        "AWS_SECRET_ACCESS_KEY": "fuzz",
        "AWS_REGION": "us-east-1",
        "S3_BUCKET": "moviedb-fuzz",
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    reset_clients()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="moviedb-fuzz")
        yield
        shutdown_in_process(wait=True)
    monkeypatch.undo()
    reset_caches()
    reset_clients()


def test_workflows_along_the_documented_links_pass_every_check(bucket: None) -> None:
    """Schemathesis' state machine over the document's links (and those it infers): an upload,
    then its status, rejects, changes, events, publish, cancel, revert; a presigned upload
    likewise; a webhook, read, its deliveries, deleted then gone; a page, the next one by
    `next_cursor`, its first movie."""
    failures: list[str] = []
    scenarios = followed = 0
    for event in schemathesis.engine.from_schema(workflows).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: {event.info.format()}")
        if isinstance(event, events.ScenarioFinished) and event.phase == PhaseName.STATEFUL_TESTING:
            scenarios += 1
            followed += sum(node.is_transition_applied for node in event.recorder.cases.values())
            failures.extend(
                f"{check.failure_info.failure.title}\n{check.failure_info.failure.message}\n"
                f"{check.failure_info.code_sample}"
                for checks in event.recorder.checks.values()
                for check in checks
                if check.failure_info is not None
            )
    assert not failures, "\n\n".join(failures)
    assert scenarios and followed, (scenarios, followed)
