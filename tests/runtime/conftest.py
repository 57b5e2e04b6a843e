"""Helpers for runtime tests: a server client, polling, and a fault-injecting proxy."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
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


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of the real server: ``mode`` = pass, 503 or down."""

    def __init__(self, upstream: str) -> None:
        self.mode = "pass"
        self.requests: list[tuple[str, str]] = []
        self.failures = 0
        upstream_root = upstream.removesuffix("/api")
        client = httpx.Client(base_url=upstream_root, timeout=30)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.mode == "down":
                    proxy.failures += 1
                    self.close_connection = True
                    self.connection.close()
                    return
                if proxy.mode == "503":
                    proxy.failures += 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                proxy.requests.append((self.command, self.path))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                reply = client.request(self.command, self.path, content=body, headers=headers)
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(prefect_api_url: str) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session server."""
    p = FaultProxy(prefect_api_url)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def closed_port_url() -> str:
    """An API URL where nothing listens."""
    return f"http://127.0.0.1:{prefect_server.free_port()}/api"


@pytest.fixture(autouse=True)
def _close_stray_reporters() -> Iterator[None]:
    """Reporters a test pointed at a dead address would make the exit flush wait; close them."""
    from skiff.runtime import _reporter

    before = set(_reporter._reporters)
    yield
    for settings in set(_reporter._reporters) - before:
        _reporter._reporters.pop(settings).close(0.2)
