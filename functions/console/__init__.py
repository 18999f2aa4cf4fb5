"""The web console for the content team (issue 13): `GET /` and the static files under
`/console/`, served from package data by the full app (`functions/api.py`) only.

The console is static HTML, CSS and one ES module (`static/`): it runs in the browser and talks
to the public API under /api/v1 alone, with the key the person types in (kept in the tab's
sessionStorage). Nothing here touches the core, and no router module imports this one, so the
Lambda handlers of the API and their import time are unchanged.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/console"

# The page may load and reach only its own origin: no CDN, no request anywhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter()


@router.get("/", include_in_schema=False)
def console() -> FileResponse:
    """The console's one page; its views are query strings of it (`/?view=catalogue&q=...`)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


def install(app: FastAPI) -> None:
    """Serve the console on `app`: the page at `/`, its files under `/console/`."""
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="console")
