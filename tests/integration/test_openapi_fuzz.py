"""Schemathesis against /openapi.json, through the ASGI app on the real PostgreSQL: no generated
request gets a 5xx, and every answer matches the documented status codes, content types and
schemas (the one error shape included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.api import app
from functions.core.s3.client import presign_client
from tests.api_support import API_KEY, reset_caches

schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE movies, upload_rejections, uploads RESTART IDENTITY CASCADE")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIEDB_API_KEY", API_KEY)
        patch.setenv("MOVIEDB_DATA_DIR", str(data_dir))
        # Presigning is computed locally: a bucket name and any credentials will do.
        patch.setenv("S3_BUCKET", "moviedb-fuzz")
        patch.setenv("AWS_ACCESS_KEY_ID", "fuzz")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "fuzz")
        reset_caches()
        presign_client.cache_clear()
        yield data_dir
    reset_caches()
    presign_client.cache_clear()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_5xx_and_documented_answers(case, fuzz_env: Path) -> None:
    headers = {"X-API-Key": API_KEY} if case.method == "POST" else None
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
