"""Lambda entry point that applies the schema migrations (package data of
functions/core/schema). It has no trigger: `make deploy` invokes it once after every deployment, as
`moviedb migrate` (the `migrate` service) does in docker-compose."""

from __future__ import annotations

import logging
from typing import Any

from functions.core.db import database_url
from functions.core.schema import migrate
from functions.telemetry import lambda_entry

logger = logging.getLogger(__name__)


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, list[str]]:
    applied = migrate(database_url())
    logger.info("migrations applied by Lambda", extra={"applied": applied})
    return {"applied": applied}
