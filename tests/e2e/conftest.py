"""End-to-end runs say which S3 emulators they ran against (tests/e2e/test_s3_dropin.py)."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("tests.e2e.test_s3_dropin")
    if module is None:
        return
    from local.emulator import EMULATORS

    available = module.EMULATORS
    ran = module.EMULATORS_RAN
    terminalreporter.section("S3 emulators")
    for name in EMULATORS:
        if name in ran:
            state = "the S3 drop-in end-to-end tests ran against it"
        elif name in available:
            state = "available, but no S3 drop-in test was selected"
        else:
            state = "NOT INSTALLED: its S3 drop-in tests did not run (`make localstack`)"
        terminalreporter.write_line(f"{name}: {state}")
