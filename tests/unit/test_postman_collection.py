"""The Postman collection in docs/ matches the API: every request is a documented operation
with documented parameters, every operation has a request, and writes carry the key header."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from functions.api import app
from tests.conftest import REPO

COLLECTION = REPO / "docs" / "moviedb.postman_collection.json"


def requests(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if "item" in item:
            yield from requests(item["item"])
        else:
            yield item["request"]


def shape(path: str) -> str:
    """`/api/v1/uploads/{{uploadId}}` and `/api/v1/uploads/{upload_id}` -> `/api/v1/uploads/{}`."""
    return re.sub(r"\{\{?[^}]+\}?\}", "{}", path).rstrip("/") or "/"


def test_the_collection_matches_the_openapi_document() -> None:
    spec = app.openapi()
    operations = {
        (method.upper(), shape(path)): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    collection = json.loads(COLLECTION.read_text())
    covered = set()
    for request in requests(collection["item"]):
        path = "/" + "/".join(request["url"]["path"])
        key = (request["method"], shape(path))
        assert key in operations, f"{key} is not in the API"
        covered.add(key)
        operation = operations[key]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for query in request["url"].get("query", []):
            assert query["key"] in declared, (key, query["key"])
        headers = {h["key"]: h["value"] for h in request["header"]}
        if operation.get("security"):
            assert headers.get("X-API-Key") == "{{apiKey}}", key
    assert covered == set(operations), f"no request for {set(operations) - covered}"
    assert {v["key"] for v in collection["variable"]} >= {"baseUrl", "apiKey"}
