"""Respond first, report after: skiff's in-process Lambda extension, under the real runtime.

The real ``awslambdaric`` runs each function in skiff's emulator, which implements the
Extensions API (the invoke phase ends, and the sandbox freezes, only when the runtime and
every extension have called ``next``). Everything is read back from the real server while
the function's process is frozen, so what is there was sent before the freeze.
"""

from __future__ import annotations

import json
import statistics
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
from tests.e2e.test_lambda_runtime import Runs

pytestmark = pytest.mark.server

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
        get_run_logger().info("handling %s", event.get("x"))
        for _ in range(event.get("lines", 0)):
            get_run_logger().info("a line to drain")
        if event.get("fail"):
            raise ValueError("bad input " + str(event.get("x")))
        time.sleep(event.get("sleep", 0))
        return {"doubled": double(event.get("x", 1))}


    @lambda_flow(sqs_batch=True)
    def on_record(record):
        if record["body"] == "bad":
            raise ValueError("bad record")
        return double(len(record["body"]))
    """
)


@pytest.fixture(scope="module")
def emulator(
    prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaEmulator]:
    root: Path = tmp_path_factory.mktemp("extension_app")
    (root / "app.py").write_text(APP)

    def config(name: str, handler: str = "app.handler", **env: str) -> FunctionConfig:
        base = {"PREFECT_API_URL": prefect_api_url, "TMPDIR": "/tmp", **env}
        return FunctionConfig(name, handler, str(root), timeout=10.0, env=base)

    functions = [
        config("responds_first"),
        config("flushes_inline", SKIFF_LAMBDA_EXTENSION="false"),
        config("batch", "app.on_record"),
        config("provisioned", AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency"),
        config("restored", AWS_LAMBDA_INITIALIZATION_TYPE="snap-start"),
    ]
    with LambdaEmulator(functions, freeze=True) as emu:
        yield emu


@pytest.fixture(scope="module")
def runs(prefect_api_url: str) -> Runs:
    return Runs(prefect_api_url)


def test_the_response_goes_out_before_the_reports_drain(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    results = [emulator.invoke("responds_first", {"x": x, "lines": 50}) for x in range(6)]
    for x, result in enumerate(results):
        assert result.status == "success" and result.payload == {"doubled": 2 * x}
        run = runs.final(result.request_id, tasks=1)
        assert run.state_type == "COMPLETED"
        logs = runs.logs(run.id)
        assert f"handling {x}" in logs and logs.count("a line to drain") == 50
    assert emulator.is_frozen("responds_first"), "reports were read while it was frozen"
    registered = [e.name for e in emulator.extensions("responds_first")]
    assert registered == ["skiff"]
    warm = results[1:]
    # The drain happens after the response: billed time beyond it, none of it the caller's.
    assert all(r.post_runtime_duration > 0 for r in warm)
    assert statistics.median(r.response_duration for r in warm) < statistics.median(
        r.duration for r in warm
    )


def test_without_the_extension_the_reports_are_flushed_before_the_response(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    results = [emulator.invoke("flushes_inline", {"x": x, "lines": 5}) for x in range(3)]
    for x, result in enumerate(results):
        assert result.status == "success"
        run = runs.final(result.request_id, tasks=1)
        assert run.state_type == "COMPLETED" and f"handling {x}" in runs.logs(run.id)
        assert result.post_runtime_duration < 0.005  # nothing left to do after the response
    assert emulator.extensions("flushes_inline") == []


def test_raising_and_batch_invocations_are_complete_before_the_freeze(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    failed = emulator.invoke("responds_first", {"x": 9, "fail": True})
    assert failed.status == "error" and failed.payload["errorMessage"] == "bad input 9"
    run = runs.final(failed.request_id)
    assert run.state_type == "FAILED"
    queue = "arn:aws:sqs:us-east-1:123456789012:orders"
    records = [
        {"messageId": str(i), "body": body, "eventSource": "aws:sqs", "eventSourceARN": queue}
        for i, body in enumerate(["ab", "bad", "c"])
    ]
    batch = emulator.invoke("batch", {"Records": records})
    assert batch.status == "success"
    assert batch.payload == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    run = runs.final(batch.request_id, tasks=5)  # 3 records, 2 nested double() calls
    states = sorted(t.state_type for t in runs.task_runs(run.id) if t.name.startswith("on_"))
    assert states == ["COMPLETED", "COMPLETED", "FAILED"]
    assert emulator.is_frozen("batch"), "it all landed while the process stayed frozen"


def test_a_hundred_invocations_lose_nothing(emulator: LambdaEmulator, runs: Runs) -> None:
    results = [emulator.invoke("responds_first", {"x": x, "lines": 3}) for x in range(100)]
    assert [r.status for r in results] == ["success"] * 100
    assert emulator.is_frozen("responds_first")
    for x, result in enumerate(results):
        run = runs.final(result.request_id, tasks=1)
        assert run.state_type == "COMPLETED"
        logs = runs.logs(run.id)
        assert f"handling {x}" in logs and logs.count("a line to drain") == 3


def test_a_snapstart_restore_is_a_cold_start(emulator: LambdaEmulator, runs: Runs) -> None:
    first, second = (emulator.invoke("restored", {"x": x}) for x in (1, 2))
    assert first.status == second.status == "success"
    labels = [runs.final(r.request_id, tasks=1).labels for r in (first, second)]
    assert [label["aws.lambda.cold_start"] for label in labels] == [True, False]


def test_provisioned_concurrency_has_no_cold_start(emulator: LambdaEmulator, runs: Runs) -> None:
    result = emulator.invoke("provisioned", {"x": 1})
    assert result.status == "success"
    run = runs.final(result.request_id, tasks=1)
    assert run.labels["aws.lambda.cold_start"] is False


def test_sigterm_flushes_what_is_still_buffered(
    prefect_api_url: str, tmp_path: Path, runs: Runs
) -> None:
    # A zero flush budget: the extension calls next at once and the sandbox freezes with
    # the reports still buffered. Only the runtime's SIGTERM at shutdown can send them.
    (tmp_path / "app.py").write_text(APP)
    env = {"PREFECT_API_URL": prefect_api_url, "TMPDIR": "/tmp", "SKIFF_FLUSH_TIMEOUT": "0"}
    config = FunctionConfig("starved", "app.handler", str(tmp_path), timeout=10.0, env=env)
    with LambdaEmulator([config], freeze=True) as emu:
        result = emu.invoke("starved", {"x": 4, "lines": 3})
        assert result.status == "success" and emu.is_frozen("starved")
        time.sleep(1.0)
        frozen = runs.by_request(result.request_id)
        assert not frozen or frozen[0].state_type not in ("COMPLETED",)
    run = runs.final(result.request_id, tasks=1)
    assert run.state_type == "COMPLETED"
    assert "handling 4" in runs.logs(run.id)
    json.dumps(result.record())  # the timing record is JSON


def test_a_drain_out_of_time_still_lands_the_final_state(
    prefect_api_url: str, tmp_path: Path, runs: Runs
) -> None:
    # 20 000 lines to send and 1.5 s to send them in (the flush budget): the drain cannot
    # send them all, and hurries the final state out first.
    (tmp_path / "app.py").write_text(APP)
    env = {"PREFECT_API_URL": prefect_api_url, "TMPDIR": "/tmp", "SKIFF_FLUSH_TIMEOUT": "1.5"}
    config = FunctionConfig("hurried", "app.handler", str(tmp_path), timeout=10.0, env=env)
    with LambdaEmulator([config], freeze=True) as emu:
        result = emu.invoke("hurried", {"x": 5, "lines": 20000})
        assert result.status == "success" and result.payload == {"doubled": 10}
        assert result.phase_error is None, "the extension called next before the deadline"
        assert result.post_runtime_duration > 0, "the drain ran after the response"
        run = runs.final(result.request_id, tasks=1)
        assert run.state_type == "COMPLETED"


def test_sigterm_handler_flushes_then_exits() -> None:
    import os
    import signal

    from skiff.adapters.aws_lambda import _extension

    previous = signal.getsignal(signal.SIGTERM)
    budgets: list[float] = []
    try:
        assert _extension.on_sigterm(budgets.append)
        with pytest.raises(SystemExit):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert budgets == [_extension.SHUTDOWN_FLUSH]
    finally:
        signal.signal(signal.SIGTERM, previous)


ROUTER = textwrap.dedent(
    """
    from skiff.adapters.aws_lambda import lambda_flow


    @lambda_flow
    def orders(event, context):
        return {"order": event["x"]}


    def handler(event, context):  # the entry point is not a lambda_flow
        if event.get("route") == "orders":
            return orders(event, context)
        return {"ignored": True}
    """
)


def test_an_entry_point_that_is_not_a_lambda_flow_is_not_held(
    prefect_api_url: str, tmp_path: Path, runs: Runs
) -> None:
    (tmp_path / "router.py").write_text(ROUTER)
    env = {"PREFECT_API_URL": prefect_api_url, "TMPDIR": "/tmp"}
    config = FunctionConfig("router", "router.handler", str(tmp_path), timeout=5.0, env=env)
    with LambdaEmulator([config], freeze=True) as emu:
        ignored = emu.invoke("router", {"route": "elsewhere"})
        routed = emu.invoke("router", {"route": "orders", "x": 3})
        assert ignored.payload == {"ignored": True} and routed.payload == {"order": 3}
        # Neither waited for a hand-off that never comes (the timeout is 5 s).
        assert ignored.duration < 2 and routed.duration < 2
        run = runs.final(routed.request_id)
        assert run.state_type == "COMPLETED"
