"""Fixtures for the client tests: clients bound to the session's real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from skiff.client import Client


@pytest.fixture
def anyio_backend() -> str:
    """anyio's pytest plugin runs ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="module")
def client(prefect_api_url: str) -> Iterator[Client]:
    """A sync client on the real server, shared by one test module."""
    with Client(prefect_api_url) as c:
        yield c


@pytest.fixture
def uid() -> str:
    """A name suffix no other test (or engineer) on the shared server uses."""
    return uuid.uuid4().hex[:12]
