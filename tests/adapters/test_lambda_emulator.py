"""The Lambda emulator, driven end to end by real awslambdaric subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from skiff.adapters.aws_lambda.emulator import (
    REQUEST_ID_HEADER,
    FunctionConfig,
    LambdaEmulator,
)

APP = """
import json, os, signal, threading, time

OUT = os.environ.get("OUT_FILE", "")


def _append(line):
    with open(OUT, "a") as f:
        f.write(line + "\\n")


if os.environ.get("ON_SIGTERM"):
    def _bye(signum, frame):
        _append("sigterm")
        os._exit(0)
    signal.signal(signal.SIGTERM, _bye)


def info(event, context):
    return {
        "pid": os.getpid(),
        "event": event,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
    }


_reports = []


def late_report(event, context):
    # Work left running after returning: only progresses while the sandbox is thawed.
    if event.get("flush"):
        for thread in _reports:
            thread.join()
        return "flushed"
    def report():
        time.sleep(0.2)
        _append("late " + context.aws_request_id)
    _reports.append(threading.Thread(target=report))
    _reports[-1].start()
    print("handled", context.aws_request_id)
    return "ok"


def fail(event, context):
    _append(context.aws_request_id)
    raise ValueError("bad input: " + json.dumps(event))


def sleepy(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}


def crash(event, context):
    os._exit(3)


def timed(event, context):
    start = time.time()
    time.sleep(0.2)
    return [start, time.time()]
"""


def _write_app(root: Path, source: str = APP, module: str = "app") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source)
    return root


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _lambda_client(emu: LambdaEmulator) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=emu.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    return _write_app(tmp_path / "task")


@pytest.fixture
def out_file(tmp_path: Path) -> Path:
    return tmp_path / "out.txt"


@pytest.fixture
def emu(app_root: Path, out_file: Path, tmp_path: Path) -> Iterator[LambdaEmulator]:
    env = {"OUT_FILE": str(out_file)}

    def fn(name: str, handler: str, **kw: Any) -> FunctionConfig:
        return FunctionConfig(name, f"app.{handler}", str(app_root), env=env, **kw)

    functions = [
        fn("info", "info", timeout=5),
        fn("late", "late_report"),
        fn("fail", "fail"),
        fn("sleepy", "sleepy", timeout=0.5),
        fn("crash", "crash"),
        fn("timed", "timed"),
        FunctionConfig("broken", "missing_module.handler", str(app_root)),
    ]
    with LambdaEmulator(functions, log_dir=str(tmp_path / "logs"), async_retry_delay=0.1) as e:
        yield e


def test_cold_then_warm_in_a_frozen_sandbox(emu: LambdaEmulator) -> None:
    first = emu.invoke("info", {"n": 1})
    assert first.status == "success" and first.cold_start
    pid = first.payload["pid"]
    assert emu.pid("info") == pid
    assert first.payload["event"] == {"n": 1}
    assert first.payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:info"
    assert 0 < first.payload["remaining_ms"] <= 5000
    assert emu.is_frozen("info")
    assert _state(pid) in "Tt"

    second = emu.invoke("info", {"n": 2}, request_id="pinned-id")
    assert second.status == "success" and not second.cold_start
    assert second.payload["pid"] == pid
    assert second.payload["request_id"] == "pinned-id"
    assert _state(pid) in "Tt"
    assert [r.request_id for r in emu.invocations("info")] == [first.request_id, "pinned-id"]


def test_deadline_drives_remaining_time(emu: LambdaEmulator) -> None:
    result = emu.invoke("info", {}, deadline=time.time() + 1.5)
    assert 0 < result.payload["remaining_ms"] <= 1500


def test_freeze_holds_work_left_running_after_return(
    emu: LambdaEmulator, out_file: Path, tmp_path: Path
) -> None:
    first = emu.invoke("late", {})
    assert first.status == "success" and emu.is_frozen("late")
    time.sleep(0.5)
    assert not out_file.exists()  # the report thread is stuck while frozen

    assert emu.invoke("late", {"flush": True}).payload == "flushed"
    assert out_file.read_text() == f"late {first.request_id}\n"
    log = emu.log_path("late")
    assert log is not None and log.startswith(str(tmp_path / "logs"))
    assert f"handled {first.request_id}" in Path(log).read_text()


def test_without_freeze_work_continues_after_return(app_root: Path, out_file: Path) -> None:
    config = FunctionConfig(
        "late", "app.late_report", str(app_root), env={"OUT_FILE": str(out_file)}
    )
    with LambdaEmulator([config], freeze=False) as emu:
        result = emu.invoke("late", {})
        assert not emu.is_frozen("late")
        give_up = time.monotonic() + 10
        while not out_file.exists() and time.monotonic() < give_up:
            time.sleep(0.05)
        assert out_file.read_text() == f"late {result.request_id}\n"


def test_handler_error(emu: LambdaEmulator) -> None:
    result = emu.invoke("fail", {"x": 1})
    assert result.status == "error"
    assert result.payload["errorType"] == "ValueError"
    assert result.payload["errorMessage"] == 'bad input: {"x": 1}'
    # A handled exception keeps the sandbox.
    assert not emu.invoke("fail", {}).cold_start


def test_timeout_kills_the_sandbox_and_next_is_cold(emu: LambdaEmulator) -> None:
    pid = emu.invoke("sleepy", {}).payload["pid"]
    result = emu.invoke("sleepy", {"sleep": 30})
    assert result.status == "timeout"
    assert result.payload["errorType"] == "Sandbox.Timedout"
    assert result.payload["errorMessage"].endswith("Task timed out after 0.50 seconds")
    assert 0.5 <= result.duration < 2
    assert _gone(pid) and emu.pid("sleepy") is None

    after = emu.invoke("sleepy", {})
    assert after.status == "success" and after.cold_start
    assert after.payload["pid"] != pid


def test_init_error_then_fresh_process(emu: LambdaEmulator, app_root: Path) -> None:
    result = emu.invoke("broken", {})
    assert result.status == "error"
    assert result.payload["errorType"] == "Runtime.ImportModuleError"
    assert "missing_module" in result.payload["errorMessage"]
    assert emu.pid("broken") is None

    _write_app(app_root, "def handler(event, context):\n    return 'fixed'\n", "missing_module")
    fixed = emu.invoke("broken", {})
    assert (fixed.status, fixed.payload, fixed.cold_start) == ("success", "fixed", True)


def test_runtime_crash_is_an_error_and_resets(emu: LambdaEmulator) -> None:
    result = emu.invoke("crash", {})
    assert result.status == "error"
    assert result.payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in result.payload["errorMessage"]
    assert emu.invoke("crash", {}).cold_start


def test_invocations_of_one_function_are_serialized(emu: LambdaEmulator) -> None:
    spans: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: spans.append(emu.invoke("timed", {}).payload))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = sorted(spans)
    assert first[1] <= second[0]


def test_boto3_request_response(emu: LambdaEmulator) -> None:
    client = _lambda_client(emu)
    ok = client.invoke(FunctionName="info", Payload=json.dumps({"k": "v"}).encode())
    assert ok["StatusCode"] == 200 and "FunctionError" not in ok
    assert ok["ExecutedVersion"] == "$LATEST"
    body = json.loads(ok["Payload"].read())
    assert body["event"] == {"k": "v"}
    assert body["request_id"] == ok["ResponseMetadata"]["RequestId"]

    arn = "arn:aws:lambda:us-east-1:123456789012:function:fail"
    failed = client.invoke(FunctionName=arn, Payload=b"[1]")
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "bad input: [1]"

    dry = client.invoke(FunctionName="info", InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_boto3_event_is_retried_with_the_same_request_id(
    emu: LambdaEmulator, out_file: Path
) -> None:
    client = _lambda_client(emu)
    queued = client.invoke(FunctionName="fail", InvocationType="Event", Payload=b"{}")
    assert queued["StatusCode"] == 202
    request_id = queued["ResponseMetadata"]["RequestId"]
    assert emu.wait_idle(10)
    assert out_file.read_text().split() == [request_id] * 3
    attempts = emu.invocations("fail")
    assert [(r.request_id, r.status) for r in attempts] == [(request_id, "error")] * 3


def test_invoke_async_success_is_not_retried(emu: LambdaEmulator) -> None:
    request_id = emu.invoke_async("info", {"a": 1}, request_id="async-1")
    assert request_id == "async-1"
    assert emu.wait_idle(10)
    [attempt] = emu.invocations("info")
    assert (attempt.request_id, attempt.status) == ("async-1", "success")


def test_boto3_unknown_function(emu: LambdaEmulator) -> None:
    client = _lambda_client(emu)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.invoke(FunctionName="nope", Payload=b"{}")
    assert "Function not found" in str(caught.value)


def test_invoke_api_pinned_request_id_and_bad_payload(emu: LambdaEmulator) -> None:
    url = f"{emu.endpoint_url}/2015-03-31/functions/info/invocations"
    request = urllib.request.Request(url, data=b"{}", headers={REQUEST_ID_HEADER: "replay-1"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["x-amzn-RequestId"] == "replay-1"
        assert json.loads(response.read())["request_id"] == "replay-1"

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{not json"))
    assert caught.value.code == 400
    assert caught.value.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"


def test_stop_delivers_sigterm_and_reaps(app_root: Path, out_file: Path) -> None:
    env = {"OUT_FILE": str(out_file), "ON_SIGTERM": "1"}
    functions = [
        FunctionConfig("a", "app.info", str(app_root), env=env),
        FunctionConfig("b", "app.info", str(app_root)),
    ]
    with LambdaEmulator(functions) as emu:
        pids = [emu.invoke(name, {}).payload["pid"] for name in ("a", "b")]
        assert pids[0] != pids[1]
        assert emu.is_frozen("a") and emu.is_frozen("b")
    assert all(_gone(pid) for pid in pids)
    assert out_file.read_text() == "sigterm\n"
    with pytest.raises(RuntimeError):
        emu.invoke("a", {})


def _cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skiff.adapters.aws_lambda.emulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_help() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    assert "--handler" in result.stdout and "--invoke" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task-root", "ROOT"], "--handler"),
        (["--handler", "app", "--task-root", "ROOT"], "module.function"),
        (["--handler", "app.info", "--task-root", "/nonexistent/dir"], "not a directory"),
        (["--handler", "app.info", "--task-root", "ROOT", "--invoke", "{nope"], "not valid JSON"),
        (["--handler", "app.info", "--task-root", "ROOT", "--env", "NOEQUALS"], "K=V"),
        (["--handler", "app.info", "--task-root", "ROOT", "--timeout", "0"], "positive"),
    ],
)
def test_cli_bad_input(app_root: Path, args: list[str], message: str) -> None:
    result = _cli(*[str(app_root) if arg == "ROOT" else arg for arg in args])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_invoke_once(app_root: Path, out_file: Path) -> None:
    ok = _cli("--handler", "app.info", "--task-root", str(app_root), "--invoke", '{"q": 1}')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["event"] == {"q": 1}

    root = str(app_root)
    failed = _cli(
        "--handler",
        "app.fail",
        "--task-root",
        root,
        "--env",
        f"OUT_FILE={out_file}",
        "--invoke",
        "{}",
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "ValueError"
    # Runtime output goes to stderr, keeping stdout parseable.
    assert "ValueError" in failed.stderr
    assert out_file.exists()


def test_cli_serves_until_terminated(app_root: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "skiff.adapters.aws_lambda.emulator",
            "--handler",
            "app.info",
            "--task-root",
            str(app_root),
            "--name",
            "served",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()
        url = first_line.split(" at ")[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        client = boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        reply = client.invoke(FunctionName="served", Payload=b'{"via": "cli"}')
        pid = json.loads(reply["Payload"].read())["pid"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert _gone(pid)
    finally:
        proc.kill()
        proc.wait()
