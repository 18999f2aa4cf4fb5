"""The full API: every router under /api/v1, with /docs and /openapi.json, and the web console
at `/` (`functions/console/`, static files; served by this app only).

What `moviedb serve` runs (uvicorn `functions.api:app`) and, as `handler`, a Lambda function
serving every route at once. The error shape and the mapping of errors to HTTP responses are
`functions/web/__init__.py`'s, shared with each router's own Lambda handler.
"""

from __future__ import annotations

from mangum import Mangum

from functions import console, movies, ping, presigned, upload, uploads
from functions.web import create_app

app = create_app(ping.router, upload.router, uploads.router, presigned.router, movies.router)
console.install(app)
handler = Mangum(app, lifespan="off")
