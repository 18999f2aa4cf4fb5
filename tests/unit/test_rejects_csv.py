"""The rejects download is safe to open in a spreadsheet (no I/O)."""

from __future__ import annotations

import pytest

from functions.core.uploads.records import spreadsheet_safe


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2+3", "-5", "@SUM(A1)", "\tx", "\rx"])
def test_values_a_spreadsheet_would_run_get_a_quote_in_front(value: str) -> None:
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["Toy Story,1995", "'=already quoted", "", " =x", 7, None])
def test_other_values_are_left_as_they_are(value: object) -> None:
    assert spreadsheet_safe(value) == value
