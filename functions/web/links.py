"""The OpenAPI links between operations: which value of an answer another operation takes (an
upload's id to its status, rejects, changes, publish, cancel, revert; a webhook's id; a page's
`next_cursor`). They document the API's workflows, and schemathesis' stateful tests follow them
(tests/integration/test_openapi_fuzz.py).

The link maps are given to the routes' `responses` (FastAPI merges them into the generated
answer): the upload's here, as three routers answer with an upload; the others beside their
routes. A link names its target by `operationRef`, the JSON pointer of the operation in the
document, so the operation ids FastAPI generates stay as they are.
"""

from __future__ import annotations

from typing import Any

from functions.web import API_PREFIX


def link(operation: str, description: str, **parameters: str) -> dict[str, Any]:
    """A link to `operation` ("GET /uploads/{upload_id}", the path under /api/v1) whose
    parameters are runtime expressions ("$response.body#/upload_id")."""
    method, path = operation.split(" ", 1)
    pointer = (API_PREFIX + path).replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{pointer}/{method.lower()}",
        "description": description,
        "parameters": parameters,
    }


_UPLOAD_ID = {"upload_id": "$response.body#/upload_id"}
# An answer that carries an upload: POST /upload, POST /uploads, and publish, cancel, revert
UPLOAD_LINKS = {
    "status": link("GET /uploads/{upload_id}", "Poll the upload's status.", **_UPLOAD_ID),
    "rejects": link("GET /uploads/{upload_id}/rejects", "Its rejected rows.", **_UPLOAD_ID),
    "changes": link("GET /uploads/{upload_id}/changes", "Its change set.", **_UPLOAD_ID),
    "events": link("GET /uploads/{upload_id}/events", "Its live events.", **_UPLOAD_ID),
    "publish": link("POST /uploads/{upload_id}/publish", "Publish it (review).", **_UPLOAD_ID),
    "cancel": link("POST /uploads/{upload_id}/cancel", "Cancel it.", **_UPLOAD_ID),
    "revert": link("POST /uploads/{upload_id}/revert", "Undo it.", **_UPLOAD_ID),
}
