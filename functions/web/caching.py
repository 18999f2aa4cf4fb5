"""HTTP caching of the public reads (`GET /movies`, `GET /movies/{id}`): a strong `ETag` made of
the catalogue's version (advanced by every publish and revert) and the request, and
`Cache-Control: public, max-age=..., stale-while-revalidate=...`. A request whose
`If-None-Match` holds the current tag is answered 304 without running the query: a CDN (or a
browser) revalidates for the price of one version check, which costs no query at all most of
the time (the version is read at most once a second per process)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from fastapi import Request, Response

from functions.core.catalogue.version import VersionCache
from functions.core.config import get_settings
from functions.core.replicas import read_connection


@lru_cache(maxsize=1)
def _versions() -> VersionCache:
    return VersionCache(get_settings().catalogue_version_check_seconds)


def catalogue_version() -> int:
    """The catalogue's version as this process knows it (a FastAPI dependency)."""
    return _versions().current(read_connection)


def etag(request: Request, version: int) -> str:
    """Strong: the same bytes for the same request and catalogue version."""
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    digest = hashlib.sha256(f"{request.url.path}?{query}".encode()).hexdigest()[:20]
    return f'"v{version}-{digest}"'


def cache_headers(tag: str) -> dict[str, str]:
    settings = get_settings()
    return {
        "ETag": tag,
        "Cache-Control": (
            f"public, max-age={settings.http_max_age_seconds}, "
            f"stale-while-revalidate={settings.http_stale_while_revalidate_seconds}"
        ),
        "Vary": "Accept-Encoding",
    }


def not_modified(request: Request, tag: str) -> Response | None:
    """A 304 when the client already has this version of the answer, else None."""
    offered = request.headers.get("if-none-match", "")
    tags = {t.strip() for t in offered.split(",")}
    if tag in tags or "*" in tags:
        return Response(status_code=304, headers=cache_headers(tag))
    return None
