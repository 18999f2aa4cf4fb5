"""The HTTP edge every door shares: the one error shape, the one mapping of errors to HTTP
responses, the API key check, and the factories for the app and for a Lambda handler.

`functions/api.py` composes the full app from the routers; each router module
(`functions/ping.py`, ...) builds its own Lambda `handler` with `lambda_handler(router)`, so a
Lambda function loads only its own routes but answers exactly like the full app. This lives
apart from `api.py` so the router modules can use it without importing each other.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from mangum import Mangum
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path

from functions.core.auth import (
    API_KEY_HEADER,
    ApiKeyUnavailable,
    MissingApiKey,
    WrongApiKey,
    check_api_key,
)
from functions.core.errors import (
    InvalidCsvHeader,
    MovieDbError,
    UnsupportedLineEndings,
    UploadNotFound,
)
from functions.core.events.targets import UnsafeWebhookTarget
from functions.core.events.webhooks import DeliveryNotFound, WebhookNotFound
from functions.core.health import ServiceUnhealthy
from functions.core.ingest.dispatch import QueueUnavailable
from functions.core.ingest.filenames import InvalidFilename
from functions.core.ingest.header import EmptyFile, HeaderTooLong
from functions.core.ingest.publish import RevertConflict, RevertUnavailable
from functions.core.ingest.review import ChangeSetUnavailable
from functions.core.queue import BrokerUnavailable
from functions.core.s3.presign import S3NotConfigured
from functions.core.storage import StorageUnavailable, UploadTooLarge
from functions.core.uploads.records import (
    UploadNotCancellable,
    UploadNotPublishable,
    UploadNotRevertible,
)
from functions.web.forms import BodyTimeout, NotCsv, TooManyUploads
from functions.web.multipart import MalformedMultipart, MissingFileField, NotMultipart

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"

DESCRIPTION = """
A movie catalogue loaded from CSV files (the TMDB export format) and served fast.

* **Reading is public**: `GET /api/v1/movies` (paginated, filtered, sorted), `GET /api/v1/uploads`.
* **Writing needs an API key** in the `X-API-Key` header: `POST /api/v1/upload` takes a CSV file
  (multipart field `file`, up to 1 GiB by default), checks its header row, stores it and answers
  `202` at once with a `status_url`; the rows are validated and loaded in the background. Poll
  `GET /api/v1/uploads/{upload_id}` for progress and the counts
  (`received = inserted + updated + unchanged + rejected`); rejected rows are downloadable as CSV.
  The same file sent twice is recognised and changes nothing.
* **Every error has one shape**: `{"error": {"code": "...", "message": "...", "details": ...}}`,
  with `code` a stable machine-readable name and `message` for people.
"""


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable name of the error.")
    message: str = Field(description="What is wrong, for people.")
    details: Any = Field(default=None, description="Data about the error, when there is any.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "error": {
                        "code": "upload_not_found",
                        "message": "no upload with id 7d5c2b1e-4f0a-4d8e-9a43-1b2c3d4e5f60",
                        "details": {"upload_id": "7d5c2b1e-4f0a-4d8e-9a43-1b2c3d4e5f60"},
                    }
                }
            ]
        }
    }


# THE mapping of errors to HTTP: status and code. A new domain error gets its line here.
ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    MissingApiKey: (401, "missing_api_key"),
    WrongApiKey: (403, "wrong_api_key"),
    ApiKeyUnavailable: (503, "api_key_unavailable"),
    UploadNotFound: (404, "upload_not_found"),
    UploadNotPublishable: (409, "upload_not_publishable"),
    UploadNotCancellable: (409, "upload_not_cancellable"),
    UploadNotRevertible: (409, "upload_not_revertible"),
    RevertConflict: (409, "revert_conflict"),
    RevertUnavailable: (409, "revert_unavailable"),
    ChangeSetUnavailable: (409, "change_set_unavailable"),
    WebhookNotFound: (404, "webhook_not_found"),
    DeliveryNotFound: (404, "delivery_not_found"),
    UnsafeWebhookTarget: (422, "unsafe_webhook_target"),
    MissingFileField: (400, "missing_file"),
    MalformedMultipart: (400, "malformed_multipart"),
    EmptyFile: (400, "empty_file"),
    InvalidCsvHeader: (400, "invalid_csv_header"),
    UnsupportedLineEndings: (400, "unsupported_line_endings"),
    HeaderTooLong: (400, "header_too_long"),
    InvalidFilename: (400, "invalid_filename"),
    NotMultipart: (415, "not_multipart"),
    NotCsv: (415, "not_csv"),
    UploadTooLarge: (413, "upload_too_large"),
    BodyTimeout: (408, "body_timeout"),
    TooManyUploads: (429, "too_many_uploads"),
    ServiceUnhealthy: (503, "unhealthy"),
    BrokerUnavailable: (503, "broker_unavailable"),
    QueueUnavailable: (503, "queue_unavailable"),
    S3NotConfigured: (503, "s3_not_configured"),
    StorageUnavailable: (503, "storage_unavailable"),
    ClientDisconnect: (400, "incomplete_request"),
    # The database down or overloaded is not the client's fault, and it may pass.
    psycopg.OperationalError: (503, "database_unavailable"),
    PoolTimeout: (503, "database_unavailable"),
}

# Headers some of those errors answer with.
ERROR_HEADERS: dict[type[Exception], Callable[[Any], dict[str, str]]] = {
    # answered before the body is read: the connection is closed, the client stops sending
    TooManyUploads: lambda e: {"Retry-After": str(e.retry_after_seconds), "Connection": "close"},
    BodyTimeout: lambda e: {"Connection": "close"},  # the rest of the body is not read
}

RESPONSE_DESCRIPTIONS = {
    400: "The request is wrong (e.g. no file, or a CSV header without the required columns).",
    401: "No API key: send it in the `X-API-Key` header.",
    403: "The API key is not valid.",
    404: "No such resource.",
    409: "The upload is not in a state that allows this (the message says which it is in).",
    408: "The request body stopped arriving (`MOVIEDB_UPLOAD_BODY_TIMEOUT_SECONDS`).",
    413: "The file is larger than the limit (`MAX_UPLOAD_BYTES`).",
    415: "The body is not multipart/form-data, or the file is not a CSV file.",
    422: "A parameter is invalid (e.g. `page=0`).",
    429: "Too many uploads are being received at once: try again after `Retry-After` seconds.",
    503: "The service cannot work now (database unreachable, migrations pending, ...).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the errors an endpoint can answer."""
    return {
        status: {"model": ErrorResponse, "description": RESPONSE_DESCRIPTIONS[status]}
        for status in statuses
    }


def api_url(request: Request, path: str) -> str:
    """The absolute URL of an API path (e.g. `/uploads/ID`) as the client reached this server."""
    return str(request.base_url).rstrip("/") + API_PREFIX + path


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _status_of(exc: Exception) -> tuple[int, str] | None:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return None


def _details(exc: Exception) -> Any:
    if dataclasses.is_dataclass(exc):
        return dataclasses.asdict(exc) or None
    return None


async def _on_error(request: Request, exc: Exception) -> JSONResponse:
    mapped = _status_of(exc)
    if mapped is None:
        logger.error("unmapped error", exc_info=exc, extra={"path": request.url.path})
        return error_response(500, "internal_error", "internal error")
    status, code = mapped
    if status >= 500:
        logger.warning("service unavailable", extra={"error": str(exc), "code": code})
    message = str(exc).strip() or HTTPStatus(status).phrase
    if isinstance(exc, psycopg.Error | PoolTimeout):
        return error_response(status, code, "the database is unavailable, try again later")
    headers = next((make(exc) for cls, make in ERROR_HEADERS.items() if isinstance(exc, cls)), None)
    return error_response(status, code, message, _details(exc), headers=headers)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    message = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return error_response(422, "invalid_request", message, errors)


def _route_methods(routers: tuple[APIRouter, ...]) -> list[tuple[re.Pattern[str], set[str]]]:
    """(path pattern, methods) of every route of `routers` as served under API_PREFIX."""
    return [
        (compile_path(API_PREFIX + route.path)[0], route.methods)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.methods
    ]


def _allowed_methods(request: Request) -> str:
    """Every method the app serves on the request's path, whichever router holds it (Starlette
    lists only the first route matching the path, e.g. GET /uploads but not POST /uploads)."""
    path = request.url.path
    methods = set().union(
        *(found for pattern, found in request.app.state.route_methods if pattern.match(path))
    )
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) else phrase
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, code, message, headers=headers)


_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="The service's API key (`MOVIEDB_API_KEY`; printed by `moviedb serve` when "
    "generated). Needed for uploads.",
)


def require_api_key(key: Annotated[str | None, Security(_api_key_header)]) -> None:
    check_api_key(key)


ApiKeyRequired = Depends(require_api_key)


def _openapi_with_error_shape(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with FastAPI's default 422 body replaced by the one error shape
    (so a router that forgets to declare its 422 is still documented truthfully), and the 400
    for an unreadable body documented wherever there is a body."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    ref = "#/components/schemas/ErrorResponse"
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation and "400" not in responses:
                # A body that cannot be read at all (not JSON, bad encoding) is a 400.
                responses["400"] = {
                    "description": "The request body cannot be read.",
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                }
            answer = responses.get("422")
            if answer is None:
                continue
            content = answer.get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                content["schema"] = {"$ref": ref}
                answer["description"] = RESPONSE_DESCRIPTIONS[422]
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorResponse" not in components:
        generated = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(generated.pop("$defs", {}))
        components["ErrorResponse"] = generated
    paths = json.dumps(schema.get("paths", {}))
    if "/HTTPValidationError" not in paths:
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def create_app(*routers: APIRouter, title: str = "moviedb") -> FastAPI:
    """An app serving `routers` under /api/v1, with /docs, /openapi.json and the error mapping."""
    app = FastAPI(
        title=title,
        version=API_VERSION,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.state.route_methods = _route_methods(routers)  # for the Allow header of a 405
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    for error in ERROR_STATUS:
        app.add_exception_handler(error, _on_error)
    app.add_exception_handler(MovieDbError, _on_error)
    app.add_exception_handler(Exception, _on_error)
    app.openapi = lambda: _openapi_with_error_shape(app)  # type: ignore[method-assign]
    return app


def lambda_handler(*routers: APIRouter) -> Callable[[dict[str, Any], Any], Any]:
    """A Lambda handler (API Gateway HTTP API, payload v2) for `routers`, with Powertools' logs,
    metrics and trace (functions/telemetry.py). Pools and clients are created lazily on first
    use and reused across invocations, never in a lifespan."""
    from functions import telemetry
    from functions.web.timing import TimedRequests

    app = create_app(*routers)
    app.add_middleware(TimedRequests, observers=(telemetry.record_request,))
    return telemetry.lambda_entry(
        Mangum(app, lifespan="off"), correlation_id_path=telemetry.API_GATEWAY_REQUEST_ID
    )
