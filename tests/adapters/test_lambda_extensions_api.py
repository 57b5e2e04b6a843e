"""The emulator's Extensions API and invoke phase, driven by the real ``awslambdaric``.

The handler module below carries a tiny internal extension: a thread in the runtime
process that registers through the Extensions API at ``AWS_LAMBDA_RUNTIME_API`` during
init and loops on ``event/next``, as skiff's own extension does. An external extension (a
separate executable, like a file of ``/opt/extensions``) covers SHUTDOWN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest

from skiff.adapters.aws_lambda.emulator import (
    REQUEST_ID_HEADER,
    ExtensionError,
    FunctionConfig,
    LambdaEmulator,
)

# Shared by the handler module and the external extension.
CLIENT = """
import http.client, json, os, signal, sys, threading, time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
OUT = os.environ["OUT_FILE"]
FLAGS = os.environ["FLAG_DIR"]


def log(*parts):
    with open(OUT, "a") as f:
        f.write(" ".join(str(p) for p in parts) + "\\n")


def call(method, path, body=None, headers=None):
    host, port = API.split(":")
    conn = http.client.HTTPConnection(host, int(port))
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, "/2020-01-01/extension" + path, body=payload, headers=headers or {})
        reply = conn.getresponse()
        data = reply.read()
        ident = reply.getheader("Lambda-Extension-Identifier")
        return reply.status, ident, json.loads(data) if data else None
    finally:
        conn.close()


def register(name, events):
    return call("POST", "/register", {"events": events}, {"Lambda-Extension-Name": name})


def next_event(ident):
    return call("GET", "/event/next", headers={"Lambda-Extension-Identifier": ident})


def report(kind, ident, error_type):
    headers = {
        "Lambda-Extension-Identifier": ident,
        "Lambda-Extension-Function-Error-Type": error_type,
    }
    body = {"errorMessage": "it broke", "errorType": "Broken"}
    return call("POST", "/" + kind + "/error", body, headers)[0]
"""

APP = (
    CLIENT
    + """
MODE = os.environ.get("EXT_MODE", "")


def wait_for_text(path, text):
    while not os.path.exists(path) or text not in open(path).read():
        time.sleep(0.005)


def hold(ident, event):
    # Done with the invocation only when the test says so.
    rid = event["requestId"]
    log("event", json.dumps(event))
    wait_for_text(os.path.join(FLAGS, "release"), rid)
    log("next", rid)


def fail_exit(ident, event):
    report("exit", ident, "Extension.Boom")
    log("exit-posted")


def loop(ident, on_event):
    while True:
        status, _, event = next_event(ident)
        if status != 200:
            log("next-refused", status, event["errorType"])
            return
        on_event(ident, event)


if os.environ.get("ON_SIGTERM"):
    def _on_sigterm(signum, frame):
        log("sigterm", time.time())
        if os.environ["ON_SIGTERM"] == "exit":
            os._exit(0)
    signal.signal(signal.SIGTERM, _on_sigterm)

ANSWERS = {}
if MODE == "probe":
    ANSWERS["shutdown"] = register("probe-shutdown", ["INVOKE", "SHUTDOWN"])[::2]
    ANSWERS["bogus"] = register("probe-bogus", ["BOGUS"])[::2]
    ANSWERS["no-id"] = call("GET", "/event/next")[::2]
    ANSWERS["bad-id"] = next_event("not-a-uuid")[::2]
    ANSWERS["unknown-id"] = next_event("00000000-0000-0000-0000-000000000000")[::2]
if MODE in ("probe", "hold", "exit"):
    status, IDENT, body = register("skiff-test", ["INVOKE"])
    ANSWERS["register"] = [status, IDENT, body]
    ANSWERS["duplicate"] = register("skiff-test", ["INVOKE"])[::2]
    on_event = {"probe": lambda ident, event: None, "hold": hold, "exit": fail_exit}[MODE]
    threading.Thread(target=loop, args=(IDENT, on_event), daemon=True).start()
elif MODE == "init-error":
    _, IDENT, _ = register("skiff-test", ["INVOKE"])
    report("init", IDENT, "Extension.NoConfig")


def handler(event, context):
    log("pid", os.getpid())
    if event.get("wait_exit"):
        wait_for_text(OUT, "exit-posted")
    return {
        "request_id": context.aws_request_id,
        "deadline_ms": int(context._epoch_deadline_time_in_ms),
        "answers": ANSWERS,
    }


def late(event, context):
    return register("too-late", ["INVOKE"])[::2]


def sleepy(event, context):
    time.sleep(event["sleep"])
    return "done"
"""
)

EXTENSION = (
    CLIENT
    + """
NAME = os.path.basename(sys.argv[0])
status, ident, body = register(NAME, ["INVOKE", "SHUTDOWN"])
log("ext-registered", status, json.dumps(body), "_HANDLER" in os.environ)
while True:
    status, _, event = next_event(ident)
    if event["eventType"] == "SHUTDOWN":
        pids = [int(line.split()[1]) for line in open(OUT) if line.startswith("pid ")]
        alive = False
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                pass
        log("shutdown", time.time(), alive, json.dumps(event))
        sys.exit(0)
    log("ext-invoke", event["requestId"])
"""
)


class Sandbox:
    """Files a test's functions share: the log lines and the release flags."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out.txt"
        self.flags = root / "flags"
        self.flags.mkdir(parents=True)
        self.task = root / "task"
        self.task.mkdir()
        (self.task / "app.py").write_text(APP)

    def lines(self, prefix: str) -> list[str]:
        """The logged lines starting with ``prefix``."""
        if not self.out.exists():
            return []
        return [line for line in self.out.read_text().splitlines() if line.startswith(prefix)]

    def release(self, request_id: str) -> None:
        """Let the held extension call next for ``request_id``."""
        with open(self.flags / "release", "a") as f:
            f.write(request_id + "\n")

    def function(self, name: str, handler: str, mode: str = "", **kw: Any) -> FunctionConfig:
        env = {"OUT_FILE": str(self.out), "FLAG_DIR": str(self.flags), "EXT_MODE": mode}
        env.update(kw.pop("env", {}))
        return FunctionConfig(name, f"app.{handler}", str(self.task), env=env, **kw)

    def extension(self, name: str = "test-ext") -> str:
        path = self.root / "opt" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"#!{sys.executable}\n{EXTENSION}")
        path.chmod(0o755)
        return str(path)


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _client(emu: LambdaEmulator) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=emu.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


@pytest.fixture
def emu(box: Sandbox) -> Iterator[LambdaEmulator]:
    functions = [
        box.function("hold", "handler", "hold", timeout=20),
        box.function("probe", "handler", "probe"),
        box.function("late", "late", "probe"),
        box.function("stuck", "handler", "hold", timeout=1),
        box.function("init_error", "handler", "init-error"),
        box.function("exit_error", "handler", "exit"),
    ]
    with LambdaEmulator(functions, log_dir=str(box.root / "logs")) as e:
        yield e


def test_caller_has_its_answer_before_the_extension_calls_next(
    emu: LambdaEmulator, box: Sandbox
) -> None:
    reply = _client(emu).invoke(FunctionName="hold", Payload=b'{"x": 1}')
    body = json.loads(reply["Payload"].read())
    rid = body["request_id"]
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply
    # The phase is still open: the extension has not called next, nothing is frozen.
    assert box.lines(f"next {rid}") == []
    assert not emu.is_frozen("hold")
    assert emu.wait_invocation("hold", rid, 0) is None

    box.release(rid)
    result = emu.wait_invocation("hold", rid, 15)
    assert result is not None
    assert (result.status, result.phase_error, result.cold_start) == ("success", None, True)
    assert box.lines(f"next {rid}") == [f"next {rid}"]
    assert emu.is_frozen("hold")  # frozen only now, after the extension's next
    assert result.response_duration < result.duration
    assert 0 <= result.post_runtime_duration <= result.duration - result.response_duration
    assert result.billed_ms >= result.duration * 1000

    [event_line] = box.lines("event ")
    event = json.loads(event_line.split(" ", 1)[1])
    assert event == {
        "eventType": "INVOKE",
        "deadlineMs": body["deadline_ms"],
        "requestId": rid,
        "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hold",
        "tracing": {"type": "X-Amzn-Trace-Id", "value": event["tracing"]["value"]},
    }
    assert event["tracing"]["value"].startswith("Root=1-")

    url = f"{emu.endpoint_url}/_skiff/functions/hold/invocations"
    with urllib.request.urlopen(url) as response:
        assert json.loads(response.read()) == [result.record()]


def test_python_invoke_returns_at_the_end_of_the_phase(emu: LambdaEmulator, box: Sandbox) -> None:
    box.release("warm-1")
    box.release("warm-2")
    first = emu.invoke("hold", {}, request_id="warm-1")
    second = emu.invoke("hold", {}, request_id="warm-2")
    assert emu.is_frozen("hold")
    assert (first.cold_start, second.cold_start) == (True, False)
    assert box.lines("next ") == ["next warm-1", "next warm-2"]
    assert [r.request_id for r in emu.invocations("hold")] == ["warm-1", "warm-2"]


def test_registration_answers(emu: LambdaEmulator) -> None:
    answers = emu.invoke("probe", {}).payload["answers"]
    status, identifier, metadata = answers["register"]
    assert status == 200 and len(identifier) == 36
    assert metadata == {
        "functionName": "probe",
        "functionVersion": "$LATEST",
        "handler": "app.handler",
    }
    assert answers["shutdown"] == [
        403,
        {
            "errorType": "Extension.InvalidEventType",
            "errorMessage": "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension",
        },
    ]
    assert answers["bogus"][1]["errorType"] == "Extension.InvalidEventType"
    assert answers["duplicate"][1]["errorType"] == "Extension.InvalidExtensionState"
    assert answers["no-id"][1]["errorType"] == "Extension.MissingExtensionIdentifier"
    assert answers["bad-id"][1]["errorType"] == "Extension.InvalidExtensionIdentifier"
    assert answers["unknown-id"][1]["errorType"] == "Extension.UnknownExtensionIdentifier"
    [registered] = emu.extensions("probe")
    assert (registered.name, registered.events, registered.external) == (
        "skiff-test",
        ("INVOKE",),
        False,
    )


def test_registering_after_init_is_refused(emu: LambdaEmulator) -> None:
    assert emu.invoke("late", {}).payload == [
        403,
        {
            "errorType": "Extension.RegistrationClosed",
            "errorMessage": "Extension registration closed already",
        },
    ]
    assert [e.name for e in emu.extensions("late")] == ["skiff-test"]


def test_phase_past_the_deadline_resets_but_the_caller_keeps_its_answer(
    emu: LambdaEmulator, box: Sandbox
) -> None:
    reply = _client(emu).invoke(FunctionName="stuck", Payload=b"{}")
    rid = json.loads(reply["Payload"].read())["request_id"]
    assert "FunctionError" not in reply
    result = emu.wait_invocation("stuck", rid, 15)
    assert result is not None
    assert (result.status, result.phase_error) == ("success", "Sandbox.Timedout")
    [pid_line] = box.lines("pid ")
    assert _gone(int(pid_line.split()[1])) and emu.pid("stuck") is None
    box.release("next-one")
    assert emu.invoke("stuck", {}, request_id="next-one").cold_start


def test_init_error_fails_the_invocation_and_resets(emu: LambdaEmulator, box: Sandbox) -> None:
    result = emu.invoke("init_error", {})
    assert result.status == "error"
    assert result.payload == {
        "errorType": "Extension.InitError",
        "errorMessage": "Extension skiff-test reported Extension.NoConfig",
    }
    assert emu.extension_errors("init_error") == [
        ExtensionError(
            "skiff-test",
            "init",
            "Extension.NoConfig",
            {"errorMessage": "it broke", "errorType": "Broken"},
        )
    ]
    assert emu.pid("init_error") is None
    assert emu.invoke("init_error", {}).cold_start


def test_exit_error_fails_the_invocation_and_resets(emu: LambdaEmulator, box: Sandbox) -> None:
    result = emu.invoke("exit_error", {"wait_exit": True})
    assert result.status == "error"
    assert result.payload["errorType"] == "Extension.ExitError"
    [error] = emu.extension_errors("exit_error")
    assert (error.extension, error.kind, error.error_type) == (
        "skiff-test",
        "exit",
        "Extension.Boom",
    )
    assert emu.pid("exit_error") is None


def test_shutdown_sigterm_first_then_shutdown_event_within_2s(box: Sandbox) -> None:
    config = box.function(
        "fn", "handler", "probe", env={"ON_SIGTERM": "exit"}, extensions=[box.extension()]
    )
    emu = LambdaEmulator([config], log_dir=str(box.root / "logs"))
    with emu:
        result = emu.invoke("fn", {})
        assert result.status == "success"
        pid = emu.pid("fn")
        kinds = {(e.name, e.external, e.events) for e in emu.extensions("fn")}
        assert kinds == {
            ("test-ext", True, ("INVOKE", "SHUTDOWN")),
            ("skiff-test", False, ("INVOKE",)),
        }
    assert pid is not None and _gone(pid)
    [registered] = box.lines("ext-registered")
    # The extension sees the function's variables but not the runtime's own (_HANDLER).
    assert registered.endswith("False")
    assert box.lines("ext-invoke") == [f"ext-invoke {result.request_id}"]
    [sigterm] = box.lines("sigterm")
    [shutdown] = box.lines("shutdown")
    _, sigterm_at = sigterm.split()
    _, shutdown_at, runtime_alive, event_json = shutdown.split(" ", 3)
    event = json.loads(event_json)
    assert (event["eventType"], event["shutdownReason"]) == ("SHUTDOWN", "spindown")
    assert float(sigterm_at) <= float(shutdown_at)
    assert runtime_alive == "False"  # the runtime's turn came first
    assert 0 < event["deadlineMs"] / 1000 - float(sigterm_at) <= 2.0


def test_runtime_ignoring_sigterm_is_killed_before_extensions_shut_down(box: Sandbox) -> None:
    config = box.function(
        "fn", "handler", "probe", env={"ON_SIGTERM": "ignore"}, extensions=[box.extension()]
    )
    with LambdaEmulator([config]) as emu:
        assert emu.invoke("fn", {}).status == "success"
        pid = emu.pid("fn")
    assert pid is not None and _gone(pid)
    assert len(box.lines("sigterm")) == 1
    [shutdown] = box.lines("shutdown")
    assert shutdown.split(" ", 3)[2] == "False"


def test_internal_extension_only_gets_sigterm_without_shutdown_event(box: Sandbox) -> None:
    config = box.function("fn", "handler", "probe", env={"ON_SIGTERM": "ignore"})
    with LambdaEmulator([config]) as emu:
        emu.invoke("fn", {})
        pid = emu.pid("fn")
    assert pid is not None and _gone(pid)
    assert len(box.lines("sigterm")) == 1


def test_timeout_sends_shutdown_with_reason_timeout(box: Sandbox) -> None:
    config = box.function("fn", "sleepy", timeout=1, extensions=[box.extension()])
    with LambdaEmulator([config]) as emu:
        result = emu.invoke("fn", {"sleep": 30})
        assert result.status == "timeout"
        assert emu.pid("fn") is None
    [shutdown] = box.lines("shutdown")
    assert json.loads(shutdown.split(" ", 3)[3])["shutdownReason"] == "timeout"


def test_pinned_request_id_reaches_extensions(emu: LambdaEmulator, box: Sandbox) -> None:
    box.release("pinned")
    url = f"{emu.endpoint_url}/2015-03-31/functions/hold/invocations"
    request = urllib.request.Request(url, data=b"{}", headers={REQUEST_ID_HEADER: "pinned"})
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["request_id"] == "pinned"
    assert emu.wait_invocation("hold", "pinned", 15) is not None
    assert box.lines("next ") == ["next pinned"]


def _api() -> Any:
    from skiff.adapters.aws_lambda.emulator.extensions import ExtensionsAPI

    metadata = {"functionName": "fn", "functionVersion": "$LATEST", "handler": "app.handler"}
    return ExtensionsAPI(threading.Condition(), metadata, ["outside"], [])


def _call(api: Any, method: str, route: str, body: Any = None, **headers: str) -> Any:
    message = Message()
    for key, value in headers.items():
        message[key.replace("_", "-")] = value
    raw = b"" if body is None else json.dumps(body).encode()
    status, reply_headers, reply = api.handle(method, f"/2020-01-01/extension{route}", message, raw)
    return status, reply_headers.get("Lambda-Extension-Identifier"), json.loads(reply)


def test_after_an_error_report_the_extension_is_refused() -> None:
    api = _api()
    _, ident, _ = _call(api, "POST", "/register", {"events": []}, Lambda_Extension_Name="a")
    headers = {"Lambda_Extension_Identifier": ident}
    missing = _call(api, "POST", "/init/error", {}, **headers)
    assert missing[::2] == (
        403,
        {
            "errorType": "Extension.MissingHeader",
            "errorMessage": "Lambda-Extension-Function-Error-Type not found",
        },
    )
    headers["Lambda_Extension_Function_Error_Type"] = "Extension.Broken"
    assert _call(api, "POST", "/init/error", {}, **headers)[::2] == (202, {"status": "OK"})
    assert api.failure == ("Extension.InitError", "Extension a reported Extension.Broken")
    for route, method in (("/event/next", "GET"), ("/exit/error", "POST")):
        status, _, error = _call(api, method, route, {}, **headers)
        assert (status, error["errorType"]) == (403, "Extension.InvalidExtensionState")


def test_init_error_after_init_and_the_extension_limit() -> None:
    api = _api()
    idents = [
        _call(api, "POST", "/register", {"events": ["INVOKE"]}, Lambda_Extension_Name=f"e{i}")[1]
        for i in range(10)
    ]
    status, _, error = _call(api, "POST", "/register", {}, Lambda_Extension_Name="e10")
    assert (status, error["errorType"]) == (403, "Extension.TooManyExtensions")
    api.in_init = False
    headers = {
        "Lambda_Extension_Identifier": idents[0],
        "Lambda_Extension_Function_Error_Type": "Extension.Late",
    }
    status, _, error = _call(api, "POST", "/init/error", {}, **headers)
    assert (status, error["errorType"]) == (403, "Extension.InvalidExtensionState")
    assert _call(api, "POST", "/exit/error", {}, **headers)[0] == 202
    assert api.failure[0] == "Extension.ExitError"


def test_an_external_extension_may_take_shutdown() -> None:
    api = _api()
    status, _, body = _call(
        api,
        "POST",
        "/register",
        {"events": ["INVOKE", "SHUTDOWN"]},
        Lambda_Extension_Name="outside",
    )
    assert status == 200 and body["handler"] == "app.handler"
    [registered] = api.registered()
    assert (registered.external, registered.events) == (True, ("INVOKE", "SHUTDOWN"))
    status, _, error = _call(api, "POST", "/register", None, Lambda_Extension_Name="x")
    assert (status, error["errorType"]) == (403, "InvalidRequestFormat")


def test_cli_runs_external_extensions_and_reports_timing(box: Sandbox) -> None:
    env = [f"--env=OUT_FILE={box.out}", f"--env=FLAG_DIR={box.flags}", "--env=EXT_MODE=probe"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "skiff.adapters.aws_lambda.emulator",
            "--handler=app.handler",
            f"--task-root={box.task}",
            f"--extension={box.extension()}",
            *env,
            "--invoke={}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    request_id = json.loads(result.stdout)["request_id"]
    assert box.lines("ext-invoke") == [f"ext-invoke {request_id}"]
    assert f"REPORT RequestId: {request_id}\tResponse: " in result.stderr
    assert "Billed Duration: " in result.stderr
    [shutdown] = box.lines("shutdown")
    assert json.loads(shutdown.split(" ", 3)[3])["shutdownReason"] == "spindown"


def test_cli_refuses_a_missing_extension(box: Sandbox) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "skiff.adapters.aws_lambda.emulator",
            "--handler=app.handler",
            f"--task-root={box.task}",
            f"--extension={box.root / 'nope'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is not an executable file" in result.stderr
