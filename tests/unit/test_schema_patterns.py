"""The patterns the OpenAPI document gives a parameter say what its validator does: a value the
pattern admits is accepted, one it refuses is refused (schemathesis holds the service to them,
tests/integration/test_openapi_fuzz.py)."""

from __future__ import annotations

import re
import socket
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.core.catalogue.query import MovieQuery
from functions.core.events.targets import UnsafeWebhookTarget, check_target
from functions.core.ingest.filenames import InvalidFilename, key_filename
from functions.movies import VALIDATOR_RULES
from functions.presigned import PresignedUploadRequest
from functions.webhooks import NewWebhook

# Text with what matters to the patterns: letters and digits of several scripts, `_`, spaces,
# punctuation, control characters and NUL, slashes. No lone surrogate: HTTP brings UTF-8, which
# has none (and pydantic refuses one in JSON).
TEXT = st.text(
    st.one_of(
        st.sampled_from("ab1_ -./\\:?#@\x00\x01\t\n\x7f\u00e9\u0301\u00b2\u0416\u65e5"),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=30,
)


def _admits(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


def _accepted(**params: str) -> bool:
    try:
        MovieQuery.model_validate(params)
    except ValidationError:
        return False
    return True


@settings(max_examples=500)
@given(TEXT)
def test_the_q_pattern_admits_what_the_listing_accepts(value: str) -> None:
    assert _admits(VALIDATOR_RULES["q"]["pattern"], value) == _accepted(q=value)


@pytest.mark.parametrize("value", ["", "   ", "abc", " été ", "a_bc", "日本語", "ab cd", "ab\x00c"])
def test_the_q_pattern_on_the_cases_that_matter(value: str) -> None:
    assert _admits(VALIDATOR_RULES["q"]["pattern"], value) == _accepted(q=value)


@given(TEXT)
def test_text_parameters_with_a_nul_are_refused_as_the_document_says(value: str) -> None:
    for name in ("language", "spoken_language", "cursor"):
        if not _admits(VALIDATOR_RULES[name]["pattern"], value):
            assert not _accepted(**{name: value})


def _presigned_pattern() -> str:
    schema = PresignedUploadRequest.model_json_schema()
    return schema["properties"]["filename"]["pattern"]


@settings(max_examples=500)
@given(TEXT)
def test_the_presigned_filename_pattern_admits_what_key_filename_takes(value: str) -> None:
    try:
        key_filename(value)
        taken = True
    except InvalidFilename:
        taken = False
    assert _admits(_presigned_pattern(), value) == taken


def _no_lookup(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"looked up {args[0]!r}")


@settings(max_examples=500)
@given(st.one_of(TEXT, TEXT.map("http://".__add__), TEXT.map("HTTPS://".__add__)))
def test_a_webhook_url_the_pattern_refuses_is_refused_before_any_lookup(value: str) -> None:
    pattern = NewWebhook.model_json_schema()["properties"]["url"]["pattern"]
    if not _admits(pattern, value):
        with (
            mock.patch.object(socket, "getaddrinfo", _no_lookup),
            pytest.raises(UnsafeWebhookTarget),
        ):
            check_target(value, allow_private=True)
