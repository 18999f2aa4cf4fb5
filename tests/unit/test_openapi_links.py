"""The OpenAPI document's links name operations it has, with parameters those operations take
(schemathesis' stateful tests follow them: tests/integration/test_openapi_fuzz.py)."""

from __future__ import annotations

from typing import Any

from functions.api import app


def _links() -> list[tuple[str, str, dict[str, Any]]]:
    spec = app.openapi()
    return [
        (f"{method.upper()} {path} -> {status}", name, link)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        for status, answer in operation["responses"].items()
        for name, link in answer.get("links", {}).items()
    ]


def _operation(reference: str) -> dict[str, Any]:
    assert reference.startswith("#/paths/"), reference
    pointer, method = reference.removeprefix("#/paths/").rsplit("/", 1)
    path = pointer.replace("~1", "/").replace("~0", "~")
    return app.openapi()["paths"][path][method]


def test_every_link_names_an_operation_and_its_parameters() -> None:
    links = _links()
    assert len(links) >= 20
    for source, name, link in links:
        target = _operation(link["operationRef"])
        taken = {parameter["name"] for parameter in target.get("parameters", [])}
        assert set(link["parameters"]) <= taken, (source, name)
        for expression in link["parameters"].values():
            assert expression.startswith(("$response.body#/", "$request.")), (source, name)


def test_an_upload_leads_to_its_status_and_what_can_be_done_with_it() -> None:
    upload = app.openapi()["paths"]["/api/v1/upload"]["post"]["responses"]
    for status in ("200", "202"):
        assert set(upload[status]["links"]) == {
            "status",
            "rejects",
            "changes",
            "events",
            "publish",
            "cancel",
            "revert",
        }
        status_link = upload[status]["links"]["status"]
        assert status_link["parameters"] == {"upload_id": "$response.body#/upload_id"}
