"""Fail open: the server is down at start, goes down mid-run, or answers 503s.

A fault-injecting proxy on 127.0.0.1 sits in front of the real server. In every case the
flow body runs and returns its value, ONE warning is logged on the ``skiff`` logger, and
once the server is reachable again within the flush deadline nothing is missing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

import skiff
from skiff._engine import RunHandle, flow, get_run_logger, run_flow, task
from tests.engine.conftest import Server
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server


def _flow(name: str, on_body: Any = None) -> Any:
    @task
    def step(x: int) -> int:
        return x + 1

    @flow(name=name)
    def body() -> int:
        get_run_logger().info("log line of %s", name)
        value = step(1)
        if on_body is not None:
            on_body()
        return step(value)

    return body


def _run_through(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, body: Any
) -> tuple[Any, list[RunHandle]]:
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    monkeypatch.setenv("SKIFF_FLUSH_INTERVAL", "0.2")
    handles: list[RunHandle] = []
    return run_flow(body, {}, on_start=handles.append), handles


def _assert_all_there(server: Server, name: str) -> None:
    (run,) = server.runs_of(name)
    server.wait_final(run["id"], tasks=2)
    assert server.flow_run(run["id"])["state_name"] == "Completed"
    assert {t["state_name"] for t in server.task_runs(run["id"])} == {"Completed"}
    assert f"log line of {name}" in server.logs(run["id"])


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "skiff" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("mode", ["down", "503"])
def test_server_unavailable_at_start(
    mode: str,
    proxy: FaultProxy,
    server: Server,
    api_env: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"fault-start-{mode}-{uuid.uuid4().hex[:6]}"
    if mode == "down":
        proxy.refuse()
    else:
        proxy.add("503")
    caplog.set_level(logging.WARNING, logger="skiff")
    value, handles = _run_through(proxy, monkeypatch, _flow(name))
    assert value == 3  # the body ran although nothing could be created
    assert handles[0].flow_run_id is None
    assert skiff.flush(0.5) is False
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    proxy.clear()
    proxy.accept()
    assert skiff.flush(20) is True
    assert handles[0].flow_run_id is not None
    _assert_all_there(server, name)


def test_server_goes_down_mid_run(
    proxy: FaultProxy,
    server: Server,
    api_env: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"fault-mid-{uuid.uuid4().hex[:6]}"
    caplog.set_level(logging.WARNING, logger="skiff")

    def go_down() -> None:
        proxy.refuse()

    value, handles = _run_through(proxy, monkeypatch, _flow(name, go_down))
    assert value == 3 and handles[0].flow_run_id is not None
    assert skiff.flush(0.5) is False
    proxy.accept()
    assert skiff.flush(20) is True
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
    _assert_all_there(server, name)


def test_strict_mode_raises_instead(
    closed_port_url: str, api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url)
    monkeypatch.setenv("SKIFF_STRICT", "true")
    ran: list[bool] = []

    @flow
    def strict_flow() -> None:
        ran.append(True)

    with pytest.raises(skiff.ReportingError, match="could not create"):
        strict_flow()
    assert not ran
