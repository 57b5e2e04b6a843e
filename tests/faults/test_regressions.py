"""Regression tests for the reporting defects of issue 11, each through real faults.

Every test drives a real Prefect server through :class:`~tests.faults.proxy.FaultProxy`;
the Lambda cases run the real ``awslambdaric`` under skiff's emulator with freezing on, so
whatever the server has while the sandbox is frozen was sent before the handler returned.
The client-side defects (8, 12, 13) are in ``tests/client``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import skiff
from scripts import prefect_server
from skiff._engine import _reporter, flow, get_run_logger
from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
from tests.engine.conftest import Server, wait_for
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@pytest.fixture
def srv(prefect_api_url: str) -> Server:
    return Server(prefect_api_url)


@pytest.fixture
def through(proxy: FaultProxy, api_env: str, monkeypatch: pytest.MonkeyPatch) -> FaultProxy:
    """In-process flows report through the proxy; reporters made here are closed after."""
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    monkeypatch.setenv("SKIFF_FLUSH_INTERVAL", "0.2")
    return proxy


def _name(what: str) -> str:
    return f"r-{what}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------- in-process defects
def test_regression_01_lost_create_response_makes_one_run(through: FaultProxy, srv: Server) -> None:
    """The server creates the run but the answer is lost: still exactly one run, final.

    There is no idempotency key (Prefect sets none): the retried create finds the run by
    the marker the first attempt wrote into its ``context``."""
    through.add("reset_after", r"^/api/flow_runs/$", method="POST", times=1)
    name = _name("dup")

    @flow(name=name)
    def body() -> int:
        return 1

    assert body() == 1
    assert skiff.flush(20)
    runs = srv.runs_of(name)
    assert through.faults["reset_after"] == 1
    assert len(runs) == 1, [(r["id"], r["state_type"]) for r in runs]
    assert runs[0]["state_type"] == "COMPLETED"
    assert runs[0]["idempotency_key"] is None
    assert srv.history(runs[0]["id"]) == ["Pending", "Running", "Completed"]


def test_regression_02_subflow_survives_a_503_on_its_task_run(
    through: FaultProxy, srv: Server
) -> None:
    """One 503 on the subflow's stand-in task run must not drop the child run."""
    through.add("503", r"^/api/task_runs/$", method="POST", times=1)
    parent_name, child_name = _name("parent"), _name("child")

    @flow(name=child_name)
    def summarize(x: int) -> int:
        return x + 1

    @flow(name=parent_name)
    def parent() -> int:
        return summarize(1)

    assert parent() == 2
    assert skiff.flush(20)
    (parent_run,) = srv.runs_of(parent_name)
    children = srv.runs_of(child_name)
    assert len(children) == 1, "the subflow run was dropped"
    child = srv.wait_final(children[0]["id"])
    assert child["state_type"] == "COMPLETED"
    stand_ins = {t["id"]: t for t in srv.task_runs(parent_run["id"])}
    assert child["parent_task_run_id"] in stand_ins


def test_regression_05_final_state_is_not_starved_by_logs(
    through: FaultProxy,
    srv: Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """100k logs on a slow server: the flush deadline still lands the final state first."""
    through.add("delay", r"^/api/logs/$", method="POST", seconds=0.5)
    name = _name("logs")
    caplog.set_level(logging.WARNING, logger="skiff")

    @flow(name=name)
    def chatty() -> str:
        logger = get_run_logger()
        for i in range(100_000):
            logger.info("line %d", i)
        return "done"

    handles: list[Any] = []
    state = skiff._engine.run_flow(chatty, {}, on_start=handles.append, return_state=True)
    assert state.is_completed()
    skiff.flush(4)
    run = srv.flow_run(handles[0].flow_run_id)
    assert run["state_type"] == "COMPLETED", run["state_type"]
    for reporter in list(_reporter._reporters.values()):
        reporter.close(0)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "unreachable" not in text, text


def test_regression_09_unencodable_parameter_never_stops_the_body(
    through: FaultProxy, srv: Server
) -> None:
    """Parameters no encoder can show (their repr raises) never stop the body; the run
    completes and records them as Prefect 3.9.1 does (``jsonable_encoder``: ``vars()``, or
    ``"<TypeName>"`` when even that fails; checked against a real Prefect flow)."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    class Sealed:
        __slots__ = ()

        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    ran: list[bool] = []
    name = _name("param")

    @flow(name=name)
    def body(thing: Any, sealed: Any, n: int) -> int:
        ran.append(True)
        return n

    assert body(Hostile(), Sealed(), 3) == 3
    assert ran == [True]
    assert skiff.flush(20)
    (run,) = srv.runs_of(name)
    assert run["state_type"] == "COMPLETED"
    assert run["parameters"] == {"thing": {}, "sealed": "<Sealed>", "n": 3}


def test_regression_10_lost_logs_response_does_not_duplicate_logs(
    through: FaultProxy, srv: Server
) -> None:
    through.add("reset_after", r"^/api/logs/$", method="POST", times=1)
    name = _name("logdup")

    @flow(name=name)
    def body() -> None:
        for i in range(20):
            get_run_logger().info("once %d", i)

    handles: list[Any] = []
    skiff._engine.run_flow(body, {}, on_start=handles.append)
    assert skiff.flush(20)
    assert through.faults["reset_after"] == 1
    time.sleep(1)
    logs = [m for m in srv.logs(handles[0].flow_run_id) if m.startswith("once ")]
    assert len(logs) == len(set(logs)), f"{len(logs)} logs on the server for 20 sent"


def test_a_streak_of_503s_does_not_stall_later_flushes(through: FaultProxy, srv: Server) -> None:
    """Found by the load suite: six 503s on the create (a busy SQLite) made every later
    invocation of the sandbox wait its whole flush budget, and runs were lost. A flush must
    wake a backoff that began before it, and retry often while it waits."""
    through.add("503", r"^/api/flow_runs/$", method="POST", times=6)
    names = [_name(f"streak{i}") for i in range(3)]
    took = []
    for name in names:

        @flow(name=name)
        def body() -> int:
            return 1

        started = time.monotonic()
        body()
        assert skiff._engine._flows.flush_before_freeze(10)
        took.append(time.monotonic() - started)
    assert took[0] < 8 and max(took[1:]) < 2, took
    for name in names:
        assert [r["state_type"] for r in srv.runs_of(name)] == ["COMPLETED"]


def test_regression_11_memory_bound_holds_for_rss(tmp_path: Path) -> None:
    """200k buffered logs against a 32 MiB bound: RSS grows by the bound, within 20%."""
    script = textwrap.dedent(
        """
        import json, os, sys
        from skiff import flow, get_run_logger

        def rss():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024

        @flow
        def noisy():
            logger = get_run_logger()
            for i in range(int(sys.argv[1])):
                logger.info("a log line of the usual length, number %08d, with some detail", i)

        noisy.fn  # warm imports
        get_run_logger
        import skiff._engine._reporter, skiff.client._sync._transport
        before = rss()
        noisy()
        after = rss()
        from skiff._engine import _reporter
        (reporter,) = _reporter.all_reporters()
        print(json.dumps({"growth": after - before, "buffered": reporter.pending(),
                          "dropped": reporter.dropped}))
        os._exit(0)
        """
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))},
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_server.free_port()}/api",
        "SKIFF_BUFFER_MAX_BYTES": str(32 * 1024 * 1024),
        "SKIFF_BUFFER_MAX_ITEMS": "1000000",
    }
    out = subprocess.run(
        [sys.executable, "-c", script, "200000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    bound = 32 * 1024 * 1024
    assert figures["dropped"] > 0, figures  # the buffer really filled up
    assert 0.8 * bound <= figures["growth"] <= 1.2 * bound, figures


# --------------------------------------------------------------------- Lambda defects
APP = textwrap.dedent(
    """
    import time

    from skiff import get_run_logger, task
    from skiff.adapters.aws_lambda import lambda_flow


    @task
    def double(x):
        return 2 * x


    @lambda_flow
    def handler(event, context):
        for i in range(event.get("logs", 1)):
            get_run_logger().info("line %d of %s", i, event.get("tag"))
        end = time.monotonic() + event.get("sleep", 0)
        while time.monotonic() < end:  # a busy body keeps the reporter sending
            get_run_logger().info("still working on %s", event.get("tag"))
            time.sleep(0.05)
        return {"doubled": double(event.get("x", 1))}
    """
)


@pytest.fixture
def lambda_app(tmp_path: Path) -> Path:
    root = tmp_path / "task_root"
    root.mkdir()
    (root / "app.py").write_text(APP)
    return root


def _emulator(root: Path, api_url: str, timeout: float, **env: str) -> LambdaEmulator:
    environment = {"PREFECT_API_URL": api_url, "HOME": "/nonexistent", "TMPDIR": "/tmp", **env}
    config = FunctionConfig("fn", "app.handler", str(root), timeout=timeout, env=environment)
    return LambdaEmulator([config], freeze=True)


def _runs_for(srv: Server, tag: str) -> list[dict[str, Any]]:
    runs = srv.http.post("/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 200}).json()
    return [r for r in runs if (r.get("parameters") or {}).get("event", {}).get("tag") == tag]


def test_regression_03_killed_at_deadline_is_not_left_running(
    proxy: FaultProxy, srv: Server, lambda_app: Path
) -> None:
    """1.5 s per request, more than the 1 s timeout margin: the kill still ends TimedOut."""
    proxy.add("delay", "", seconds=1.5, in_transit=True)
    tag = _name("kill")
    with _emulator(lambda_app, proxy.api_url, timeout=15.0) as emu:
        result = emu.invoke("fn", {"tag": tag, "sleep": 60})
    assert result.status == "timeout"
    proxy.clear()
    runs = wait_for(lambda: _runs_for(srv, tag), 20, "the run")
    assert len(runs) == 1
    run = wait_for(
        lambda: (r := srv.flow_run(runs[0]["id"]))["state_type"] in FINAL and r, 20, "final"
    )
    assert (run["state_type"], run["state_name"]) == ("FAILED", "TimedOut")


def test_regression_04_slow_server_cannot_push_the_handler_past_its_deadline(
    proxy: FaultProxy, srv: Server, lambda_app: Path, tmp_path: Path
) -> None:
    """3 s per request and 8 s left: the handler answers in time, and no log is lost."""
    proxy.add("delay", "", seconds=3.0)
    tag = _name("slow")
    spool = tmp_path / "spool"
    with _emulator(lambda_app, proxy.api_url, timeout=8.0, SKIFF_SPOOL_DIR=str(spool)) as emu:
        result = emu.invoke("fn", {"tag": tag, "logs": 20})
        assert result.status == "success", result.payload
        assert result.duration < 8.0, result.duration  # from hand-off, as Lambda counts
        proxy.clear()
        # The next invocation, with the server fast again, replays whatever was spooled.
        again = emu.invoke("fn", {"tag": tag + "-next"})
        assert again.status == "success"
        runs = wait_for(lambda: _runs_for(srv, tag), 30, "the slow run")
        assert len(runs) == 1, runs
        run = srv.wait_final(runs[0]["id"], tasks=1)
        assert run["state_type"] == "COMPLETED"
        logs = wait_for(
            lambda: len(m := [x for x in srv.logs(run["id"]) if x.endswith(tag)]) >= 20 and m,
            30,
            "20 logs",
        )
        assert len(logs) == 20


def test_regression_06_and_07_down_server_respects_flush_timeout_and_spools(
    proxy: FaultProxy, srv: Server, lambda_app: Path, tmp_path: Path
) -> None:
    """Server down, 30 s left, SKIFF_FLUSH_TIMEOUT=2: back within 2.5 s, all of it spooled,
    and replayed exactly once by the next invocation once the server is back."""
    tag = _name("down")
    spool = tmp_path / "spool"
    with _emulator(
        lambda_app,
        proxy.api_url,
        timeout=30.0,
        SKIFF_FLUSH_TIMEOUT="2",
        SKIFF_SPOOL_DIR=str(spool),
    ) as emu:
        emu.invoke("fn", {"tag": "warm-up"})  # a cold start is not what is measured
        proxy.refuse()
        started = time.monotonic()
        result = emu.invoke("fn", {"tag": tag, "logs": 3, "x": 5})
        took = time.monotonic() - started
        assert result.status == "success" and result.payload == {"doubled": 10}
        assert took < 2.5, took
        spooled = list(spool.glob("skiff-spool-*"))
        assert spooled, "nothing was spooled"
        proxy.accept()
        assert emu.invoke("fn", {"tag": tag + "-next"}).status == "success"
        runs = wait_for(lambda: _runs_for(srv, tag), 30, "the spooled run")
        run = srv.wait_final(runs[0]["id"], tasks=1)
        assert run["state_type"] == "COMPLETED"
        logs = wait_for(
            lambda: len(m := [x for x in srv.logs(run["id"]) if x.endswith(tag)]) >= 3 and m,
            30,
            "3 logs",
        )
        assert sorted(logs) == [f"line {i} of {tag}" for i in range(3)]
        time.sleep(1)
        assert len(_runs_for(srv, tag)) == 1
        assert not list(spool.glob("skiff-spool-*"))
