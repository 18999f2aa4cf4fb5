"""Secrets kept in AWS SSM Parameter Store, read once when a process starts (on AWS Lambda).

serverless.yml gives each function the *names* of the parameters (`DATABASE_URL_SSM_PARAMETER`,
`MOVIEDB_API_KEY_SSM_PARAMETER`), never their values: the values are read here with decryption
(SecureString), on the first `get_settings()` of a Lambda execution environment, and never
appear in the CloudFormation template, the deployment bucket or the function's configuration.
A value set directly in the environment (`DATABASE_URL`, `MOVIEDB_API_KEY`) wins, so local
runs and docker-compose never call SSM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from functions.core.errors import MovieDbError

if TYPE_CHECKING:
    from functions.core.config import Settings

logger = logging.getLogger(__name__)

# setting that receives the value -> setting that names its SSM parameter
SSM_BACKED_SETTINGS = {
    "database_url": "database_url_ssm_parameter",
    "api_key": "api_key_ssm_parameter",
}


@dataclass
class MissingSsmParameters(MovieDbError):
    names: list[str]

    def __str__(self) -> str:
        return "SSM parameters not found: " + ", ".join(self.names)


def wanted_parameters(settings: Settings) -> dict[str, str]:
    """{setting: parameter name} for the settings to read from SSM (named, and not set)."""
    wanted: dict[str, str] = {}
    for field, name_field in SSM_BACKED_SETTINGS.items():
        name = getattr(settings, name_field)
        if name and not getattr(settings, field):
            wanted[field] = name
    return wanted


def resolve_ssm_parameters(settings: Settings, client: Any = None) -> Settings:
    """`settings` with its SSM-backed values filled in (one GetParameters call)."""
    wanted = wanted_parameters(settings)
    if not wanted:
        return settings
    if client is None:
        import boto3  # imported lazily: only AWS deployments read SSM

        client = boto3.client(
            "ssm", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region
        )
    names = sorted(set(wanted.values()))
    answer = client.get_parameters(Names=names, WithDecryption=True)
    values = {p["Name"]: p["Value"] for p in answer.get("Parameters", [])}
    missing = [name for name in names if name not in values]
    if missing:
        raise MissingSsmParameters(missing)
    logger.info("settings read from SSM", extra={"settings": sorted(wanted)})
    return settings.model_copy(update={field: values[name] for field, name in wanted.items()})
