"""Prints the compat suite's ``compat: N identical of M`` at the end of the session."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.compat import test_compat

    line = test_compat.summary()
    if line:
        terminalreporter.write_line(line)
