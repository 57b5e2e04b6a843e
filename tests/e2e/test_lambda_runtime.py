"""lambda_flow under the real ``awslambdaric`` runtime client, in skiff's Lambda emulator.

Freezing is on: the emulator SIGSTOPs the function's process right after each response,
so whatever the server shows while the process is frozen was sent before the handler
returned. HOME points at a folder that does not exist and at a read-only one; the tests
check afterwards that nothing appeared there (only /tmp is meant to be writable).
Everything is asserted through skiff's own Client against the session's real server.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from skiff import Client
from skiff.adapters.aws_lambda.emulator import REQUEST_ID_HEADER, FunctionConfig, LambdaEmulator
from skiff.client import models

pytestmark = pytest.mark.server

T = TypeVar("T")
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

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


def wait_for(probe: Callable[[], T], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy."""
    give_up = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < give_up, f"timed out waiting for {what}; last {value!r}"
        time.sleep(0.1)


class Runs:
    """Reads flow runs, task runs and logs with skiff's Client."""

    def __init__(self, api_url: str) -> None:
        self.client = Client(api_url)

    def by_request(self, request_id: str) -> list[models.FlowRunResponse]:
        key = models.FlowRunFilterIdempotencyKey(any_=[f"aws-lambda:{request_id}"])
        return self.client.flow_runs.filter(flow_runs=models.FlowRunFilter(idempotency_key=key))

    def final(self, request_id: str, tasks: int = 0) -> models.FlowRunResponse:
        """The one flow run of ``request_id``, once it and ``tasks`` task runs are final."""

        def probe() -> models.FlowRunResponse | None:
            runs = self.by_request(request_id)
            assert len(runs) <= 1, f"{len(runs)} flow runs for request {request_id}"
            if not runs or runs[0].state_type not in FINAL:
                return None
            done = [t for t in self.task_runs(runs[0].id) if t.state_type in FINAL]
            return runs[0] if len(done) >= tasks else None

        return wait_for(probe, what=f"the flow run of request {request_id}")

    def task_runs(self, run_id: Any) -> list[models.TaskRun]:
        ids = models.TaskRunFilterFlowRunId(any_=[run_id])
        return self.client.task_runs.filter(task_runs=models.TaskRunFilter(flow_run_id=ids))

    def logs(self, run_id: Any) -> list[str]:
        ids = models.LogFilterFlowRunId(any_=[run_id])
        return [
            log.message for log in self.client.logs.filter(logs=models.LogFilter(flow_run_id=ids))
        ]


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A HOME that does not exist and a read-only one; checked to stay untouched."""
    base = tmp_path_factory.mktemp("homes")
    missing = base / "no-such-home"
    readonly = base / "readonly-home"
    readonly.mkdir()
    readonly.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    yield {"missing": missing, "readonly": readonly}
    # As root the permissions do not stop writes, so check that nothing was written.
    assert not missing.exists(), "something created the missing HOME"
    assert list(readonly.iterdir()) == [], "something wrote into the read-only HOME"
    readonly.chmod(stat.S_IRWXU)


@pytest.fixture(scope="module")
def emulator(
    prefect_api_url: str, homes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaEmulator]:
    """One emulator (freezing on) hosting the test app's functions."""
    root = tmp_path_factory.mktemp("task_root")
    (root / "app.py").write_text(APP)

    def config(name: str, handler: str, home: str, timeout: float = 5.0) -> FunctionConfig:
        env = {"PREFECT_API_URL": prefect_api_url, "HOME": home, "TMPDIR": "/tmp"}
        return FunctionConfig(name, handler, str(root), timeout=timeout, env=env)

    missing, readonly = str(homes["missing"]), str(homes["readonly"])
    functions = [
        config("cold_warm", "app.handler", missing),
        config("raising", "app.handler", readonly),
        config("slow", "app.handler", missing, timeout=2.0),
        config("batch", "app.on_record", readonly),
        config("repeat", "app.handler", missing),
        config("boto", "app.handler", readonly),
    ]
    with LambdaEmulator(functions, freeze=True, async_retry_delay=0.1) as emu:
        yield emu


@pytest.fixture(scope="module")
def runs(prefect_api_url: str) -> Runs:
    return Runs(prefect_api_url)


def test_cold_and_warm_invocations_are_reported_before_the_freeze(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    for x, cold in ((2, True), (3, False)):
        result = emulator.invoke("cold_warm", {"x": x})
        assert result.status == "success" and result.payload == {"doubled": 2 * x}
        assert result.cold_start is cold
        assert emulator.is_frozen("cold_warm")

        run = runs.final(result.request_id, tasks=1)
        assert run.state_type == "COMPLETED"
        assert [t.state_type for t in runs.task_runs(run.id)] == ["COMPLETED"]
        assert f"handling {x}" in runs.logs(run.id)
        labels = run.labels
        assert labels["aws.lambda.cold_start"] is cold
        assert labels["aws.lambda.request_id"] == result.request_id
        assert labels["aws.lambda.function_name"] == "cold_warm"
        assert labels["aws.lambda.function_arn"].endswith(":function:cold_warm")
        assert labels["aws.lambda.trigger"] == "direct"
        assert labels["aws.lambda.memory_mb"] == 128
        assert labels["aws.region"] == "us-east-1"
        assert run.parameters["event"] == {"x": x}
        assert run.parameters["context"]["aws_request_id"] == result.request_id
        assert emulator.is_frozen("cold_warm"), "the process ran while we looked"


def test_raising_handler_gives_failed_run_and_lambda_error(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    result = emulator.invoke("raising", {"x": 7, "fail": True})
    assert result.status == "error"
    assert result.payload["errorType"] == "ValueError"
    assert result.payload["errorMessage"] == "bad input 7"
    assert emulator.is_frozen("raising")
    run = runs.final(result.request_id)
    assert run.state_type == "FAILED"
    assert run.state is not None and "bad input 7" in (run.state.message or "")


def test_handler_killed_at_its_timeout_is_left_timed_out(
    emulator: LambdaEmulator, runs: Runs
) -> None:
    result = emulator.invoke("slow", {"x": 1, "sleep": 30})
    assert result.status == "timeout"
    assert emulator.pid("slow") is None or not emulator.is_frozen("slow")
    run = runs.final(result.request_id)
    assert (run.state_type, run.state_name) == ("FAILED", "TimedOut")
    assert run.state is not None and "deadline" in (run.state.message or "")


def test_sqs_batch_reports_the_bad_record(emulator: LambdaEmulator, runs: Runs) -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:orders"
    records = [
        {"messageId": mid, "body": body, "eventSource": "aws:sqs", "eventSourceARN": queue}
        for mid, body in (("m-1", "fine"), ("m-2", "bad"), ("m-3", "also fine"))
    ]
    result = emulator.invoke("batch", {"Records": records})
    assert result.status == "success"
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    run = runs.final(result.request_id, tasks=5)  # 3 records, 2 nested double() calls
    assert run.labels["aws.lambda.trigger"] == "sqs"
    assert run.labels["aws.lambda.event_source_arn"] == queue
    states = {t.name: t.state_type for t in runs.task_runs(run.id) if t.name.startswith("on_")}
    assert states == {
        "on_record-m-1": "COMPLETED",
        "on_record-m-2": "FAILED",
        "on_record-m-3": "COMPLETED",
    }
    assert any("1 of 3 SQS records failed: m-2" in line for line in runs.logs(run.id))


def test_same_request_id_gives_one_flow_run(emulator: LambdaEmulator, runs: Runs) -> None:
    pinned = f"pinned-{uuid.uuid4()}"
    first = emulator.invoke("repeat", {"x": 4}, request_id=pinned)
    second = emulator.invoke("repeat", {"x": 4}, request_id=pinned)
    assert first.status == second.status == "success"
    assert first.payload == {"doubled": 8}
    run = runs.final(pinned, tasks=1)
    assert run.state_type == "COMPLETED"
    assert len(runs.task_runs(run.id)) == 1, "the repeat ran the body again"

    # An asynchronous invocation that fails is retried by Lambda with the same request id.
    request_id = emulator.invoke_async("repeat", {"x": 5, "fail": True})
    assert emulator.wait_idle(20)
    attempts = [r for r in emulator.invocations("repeat") if r.request_id == request_id]
    assert len(attempts) == 3 and all(r.status == "error" for r in attempts)
    run = runs.final(request_id)
    assert run.state_type == "FAILED"
    assert run.run_count == 3


def test_boto3_invokes_through_the_emulator(emulator: LambdaEmulator, runs: Runs) -> None:
    import boto3

    client = boto3.client(
        "lambda",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pinned = f"boto-{uuid.uuid4()}"

    def pin(request: Any, **_: Any) -> None:
        request.headers[REQUEST_ID_HEADER] = pinned

    client.meta.events.register("before-sign.lambda.Invoke", pin)
    reply = client.invoke(FunctionName="boto", Payload=json.dumps({"x": 21}).encode())
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply
    assert json.loads(reply["Payload"].read()) == {"doubled": 42}
    run = runs.final(pinned, tasks=1)
    assert run.state_type == "COMPLETED"
    assert run.labels["aws.lambda.function_name"] == "boto"


def test_nothing_written_outside_tmp(homes: dict[str, Path]) -> None:
    # The homes fixture asserts at teardown; this checks mid-module too.
    assert not homes["missing"].exists()
    assert list(homes["readonly"].iterdir()) == []
    assert not os.access(homes["readonly"], os.W_OK) or os.geteuid() == 0
