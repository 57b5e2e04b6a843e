"""Helpers for runtime tests: a server client and polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from scripts import prefect_server

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}; last value {value!r}"
        time.sleep(0.1)


class Server:
    """Reads from the real server, for assertions."""

    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=30)

    def flow_run(self, run_id: Any) -> dict[str, Any]:
        return self.http.get(f"/flow_runs/{run_id}").json()  # type: ignore[no-any-return]

    def history(self, run_id: Any) -> list[str]:
        states = self.http.get("/flow_run_states/", params={"flow_run_id": str(run_id)}).json()
        return [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]

    def task_runs(self, run_id: Any) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [str(run_id)]}}}
        return self.http.post("/task_runs/filter", json=body).json()  # type: ignore[no-any-return]

    def logs(self, run_id: Any) -> list[str]:
        body = {"logs": {"flow_run_id": {"any_": [str(run_id)]}}}
        return [log["message"] for log in self.http.post("/logs/filter", json=body).json()]

    def runs_of(self, flow_name: str) -> list[dict[str, Any]]:
        body = {"flows": {"name": {"any_": [flow_name]}}}
        return self.http.post("/flow_runs/filter", json=body).json()  # type: ignore[no-any-return]

    def wait_final(self, run_id: Any, tasks: int = 0, timeout: float = 30) -> dict[str, Any]:
        """The flow run once it is final and its ``tasks`` task runs are all final."""

        def probe() -> dict[str, Any] | None:
            run = self.flow_run(run_id)
            if run.get("state_type") not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return None
            finals = [
                t for t in self.task_runs(run_id) if t["state_type"] in ("COMPLETED", "FAILED")
            ]
            return run if len(finals) >= tasks else None

        return wait_for(probe, timeout, f"flow run {run_id} to be final with {tasks} tasks")


@pytest.fixture(scope="session")
def server(prefect_api_url: str) -> Server:
    """Assertion helper bound to the session's real server."""
    return Server(prefect_api_url)


@pytest.fixture
def closed_port_url() -> str:
    """An API URL where nothing listens."""
    return f"http://127.0.0.1:{prefect_server.free_port()}/api"
