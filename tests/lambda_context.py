"""A stand-in for the context object Lambda's Python runtime passes to a handler: the same
attributes (docs: "AWS Lambda context object in Python"), fixed values."""

from __future__ import annotations

from types import SimpleNamespace


def lambda_context(function_name: str, request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"):
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}",
        memory_limit_in_mb=512,
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="2026/12/03/[$LATEST]0123456789abcdef0123456789abcdef",
        get_remaining_time_in_millis=lambda: 29_000,
    )
