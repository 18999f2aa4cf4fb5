"""Path and query parameters read as the OpenAPI document writes them.

pydantic's lax mode reads `" 2"` or `"2\v"` as the integer 2; the document's `integer` admits no
such text, so an integer parameter with whitespace around it is a 422 like any other bad value
(`GET /movies/2%0B` is no movie 2). Give `IntegerText` to an `int` parameter:
`Annotated[int, Query(ge=1), IntegerText]`.
"""

from __future__ import annotations

from pydantic import BeforeValidator


def integer_text(value: object) -> object:
    if isinstance(value, str) and value != value.strip():
        raise ValueError("must be an integer without spaces around it")
    return value


IntegerText = BeforeValidator(integer_text)
