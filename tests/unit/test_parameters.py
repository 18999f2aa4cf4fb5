"""Secrets named by SSM parameter (as serverless.yml configures Lambda) are read once, decrypted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.core.config import Settings, get_settings
from functions.core.parameters import MissingSsmParameters, resolve_ssm_parameters

DB_PARAM = "/moviedb/dev/database-url"
KEY_PARAM = "/moviedb/dev/api-key"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        client.put_parameter(
            Name=DB_PARAM, Value="postgresql://app:s3cret@db.internal/movies", Type="SecureString"
        )
        client.put_parameter(Name=KEY_PARAM, Value="the-api-key", Type="SecureString")
        yield client


def _settings(**values: Any) -> Settings:
    return Settings.model_validate({"database_url": None, "api_key": None, **values})


def test_named_parameters_fill_the_settings_decrypted(ssm: Any) -> None:
    settings = _settings(database_url_ssm_parameter=DB_PARAM, api_key_ssm_parameter=KEY_PARAM)
    resolved = resolve_ssm_parameters(settings, ssm)
    assert resolved.database_url == "postgresql://app:s3cret@db.internal/movies"
    assert resolved.api_key == "the-api-key"


def test_a_value_set_in_the_environment_wins_over_its_parameter(ssm: Any) -> None:
    settings = _settings(database_url="postgresql://local/db", database_url_ssm_parameter=DB_PARAM)
    assert resolve_ssm_parameters(settings, ssm).database_url == "postgresql://local/db"


def test_no_parameter_named_means_no_call() -> None:
    class NoCalls:
        def get_parameters(self, **kwargs: Any) -> Any:
            raise AssertionError("SSM must not be called")

    settings = _settings(database_url="postgresql://local/db")
    assert resolve_ssm_parameters(settings, NoCalls()) is settings


def test_a_missing_parameter_is_named_in_the_error(ssm: Any) -> None:
    settings = _settings(database_url_ssm_parameter="/moviedb/dev/nope")
    with pytest.raises(MissingSsmParameters) as raised:
        resolve_ssm_parameters(settings, ssm)
    assert raised.value.names == ["/moviedb/dev/nope"]


def test_get_settings_reads_the_parameters_named_in_the_environment(
    ssm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MOVIEDB_API_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL_SSM_PARAMETER", DB_PARAM)
    monkeypatch.setenv("MOVIEDB_API_KEY_SSM_PARAMETER", KEY_PARAM)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.database_url == "postgresql://app:s3cret@db.internal/movies"
        assert settings.api_key == "the-api-key"
    finally:
        get_settings.cache_clear()
