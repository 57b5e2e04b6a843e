"""Fixtures for the concurrency tests: limits on the real server, and a recording proxy.

Every limit name carries a per-test uuid, so other tests (and engineers) on the shared
server are never touched; limits are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from skiff import APIError, Client
from tests.faults.proxy import FaultProxy

PREFECT_PYTHON = os.path.join(
    os.path.dirname(__file__), "..", "..", ".cache", "prefect-server-3.9.1", "bin", "python"
)


class RecordingProxy(FaultProxy):
    """The fault proxy, also keeping each forwarded request's body and the answer's status."""

    def __init__(self, upstream_api_url: str) -> None:
        self.requests: list[dict[str, Any]] = []
        super().__init__(upstream_api_url)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        reply = super()._forward(method, path, headers, body)
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "status": reply.status_code,
                    "body": json.loads(body) if body else None,
                    "answer": reply.json() if reply.content else None,
                }
            )
        return reply

    def slot_requests(self) -> list[dict[str, Any]]:
        """The requests to ``/v2/concurrency_limits`` (no CSRF probe, version or events)."""
        with self._lock:
            return [r for r in self.requests if "/v2/concurrency_limits" in r["path"]]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], seconds: float = 30) -> None:
        """Wait until a forwarded request matches (a condition, not a timing assertion)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if any(predicate(r) for r in self.requests):
                    return
            time.sleep(0.02)
        raise AssertionError(f"no matching request within {seconds} s: {self.slot_requests()}")


class Limits:
    """Creates and reads v2 concurrency limits on the real server (directly, not proxied).

    Requests go through skiff's client, which retries the shared SQLite server's 503s.
    """

    def __init__(self, api_url: str) -> None:
        self.http = Client(api_url)
        self.made: list[str] = []
        self.suffix = uuid.uuid4().hex[:10]

    def make(self, name: str, limit: int, decay: float = 0.0) -> str:
        full = f"{name}-{self.suffix}"
        body = {"name": full, "limit": limit, "slot_decay_per_second": decay}
        self.http.request("POST", "/v2/concurrency_limits/", json=body)
        self.made.append(full)
        return full

    def missing(self, name: str) -> str:
        return f"{name}-{self.suffix}-missing"

    def active(self, name: str) -> int:
        reply = self.http.request("GET", f"/v2/concurrency_limits/{name}")
        active: int = reply.json()["active_slots"]
        return active

    def take(self, name: str, slots: int = 1) -> str:
        """Hold slots from outside skiff (another holder); returns the lease id."""
        body = {"names": [name], "slots": slots, "mode": "concurrency", "lease_duration": 60}
        reply = self.http.request("POST", "/v2/concurrency_limits/increment-with-lease", json=body)
        lease: str = reply.json()["lease_id"]
        return lease

    def give_back(self, lease_id: str) -> None:
        self.http.request(
            "POST", "/v2/concurrency_limits/decrement-with-lease", json={"lease_id": lease_id}
        )

    def close(self) -> None:
        for name in self.made:
            with contextlib.suppress(APIError):
                self.http.request("DELETE", f"/v2/concurrency_limits/{name}")
        self.http.close()


@pytest.fixture
def limits(prefect_api_url: str) -> Iterator[Limits]:
    """Per-test limits on the session server."""
    made = Limits(prefect_api_url)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def recorder(prefect_api_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """A recording proxy in front of the server, and PREFECT_API_URL pointing at it."""
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "SKIFF_")) and name != "SKIFF_TEST_API_URL":
            monkeypatch.delenv(name, raising=False)
    proxy = RecordingProxy(prefect_api_url)
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    try:
        yield proxy
    finally:
        proxy.close()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``fn`` in a thread; the list collects what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors
