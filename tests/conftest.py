"""Session fixtures: one real Prefect server for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scripts import prefect_server
from tests.faults.proxy import FaultProxy


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """The API URL of a real Prefect 3.9.1 server: SKIFF_TEST_API_URL, or one started here."""
    reuse = os.environ.get("SKIFF_TEST_API_URL")
    if reuse:
        prefect_server.wait_healthy(reuse.rstrip("/"), 30)
        yield reuse.rstrip("/")
        return
    handle = prefect_server.start()
    os.environ["SKIFF_TEST_STARTED_SERVER_LOG"] = handle.log_file
    try:
        yield handle.api_url
    finally:
        handle.stop()


@pytest.fixture
def api_env(prefect_api_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """PREFECT_API_URL pointing at the test server, and no other Prefect or skiff settings."""
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "SKIFF_")) and name != "SKIFF_TEST_API_URL":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    return prefect_api_url


@pytest.fixture(autouse=True)
def _close_stray_reporters() -> Iterator[None]:
    """Reporters a test pointed at a dead address would make the exit flush wait; close them."""
    from skiff._engine import _reporter

    before = set(_reporter._reporters)
    yield
    for settings in set(_reporter._reporters) - before:
        _reporter._reporters.pop(settings).close(0.2)


@pytest.fixture
def proxy(prefect_api_url: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy (:mod:`tests.faults.proxy`) in front of the session server."""
    p = FaultProxy(prefect_api_url)
    try:
        yield p
    finally:
        p.close()
