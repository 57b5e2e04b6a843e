"""Local AWS Lambda emulator that runs handlers under the real ``awslambdaric`` runtime client.

Each function gets a sandbox: an ``awslambdaric`` subprocess talking to a private Lambda
Runtime API server on 127.0.0.1. Like real Lambda, a sandbox is started on first use (cold
start), reused afterwards (warm), frozen with SIGSTOP between invocations, killed when an
invocation passes its deadline and replaced after a crash or init failure.

The emulator also serves the Lambda Invoke API, so boto3 can call the functions::

    with LambdaEmulator([FunctionConfig("fn", "app.handler", "/path/to/src")]) as emu:
        client = boto3.client("lambda", endpoint_url=emu.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        client.invoke(FunctionName="fn", Payload=b"{}")

Send the header ``X-Skiff-Request-Id`` with an Invoke API call to pin the invocation's
request id (to replay a delivery, for instance). Invocations of one function run one at a
time, as on a single Lambda instance.

Run ``python -m skiff.adapters.aws_lambda.emulator --help`` for the command line.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import heapq
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "REQUEST_ID_HEADER",
    "FunctionConfig",
    "InvocationResult",
    "LambdaEmulator",
    "main",
]

REQUEST_ID_HEADER = "X-Skiff-Request-Id"
"""Invoke API request header that pins the request id of the invocation."""

_ACCOUNT_ID = "123456789012"
_RUNTIME_PREFIX = "/2018-06-01/runtime"
_RESULT_PATH = re.compile(rf"{_RUNTIME_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")
# Real Lambda's limit on the init phase, independent of the function timeout.
_INIT_TIMEOUT = 10.0
# Lambda retries a failed asynchronous invocation twice.
_ASYNC_ATTEMPTS = 3
# Time a runtime gets to act on SIGTERM when the emulator stops.
_SHUTDOWN_GRACE = 0.5


@dataclass
class FunctionConfig:
    """One Lambda function: its handler, code location and settings."""

    name: str
    handler: str
    task_root: str
    timeout: float = 3.0
    memory_size: int = 128
    env: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"

    @property
    def arn(self) -> str:
        """The function's (fake-account) ARN."""
        return f"arn:aws:lambda:{self.region}:{_ACCOUNT_ID}:function:{self.name}"


@dataclass
class InvocationResult:
    """Outcome of one invocation attempt.

    ``status`` is ``"success"``, ``"error"`` (handler raised, init failed or the runtime
    died) or ``"timeout"``. ``payload`` is the decoded JSON response or error object and
    ``raw`` its bytes. ``duration`` counts from hand-off to the runtime, like Lambda's billed
    duration (from the start of the attempt if the runtime never took it).
    """

    request_id: str
    status: str
    payload: Any
    raw: bytes
    duration: float
    cold_start: bool


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    # Epoch seconds; None means "function timeout after hand-off".
    deadline: float | None
    trace_id: str
    # Seconds between hand-off and deadline, for the timeout message.
    budget: float = 0.0


@dataclass(order=True)
class _AsyncJob:
    due: float
    seq: int
    body: bytes = field(compare=False)
    request_id: str = field(compare=False)
    attempt: int = field(compare=False)


def _new_trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
        f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
    )


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _proc_state(pid: int) -> str | None:
    """Scheduler state letter from /proc, or None where there is no /proc entry."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses; the state follows the last ')'.
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3].decode()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def serve(self) -> None:
        # shutdown() waits for the loop's next poll; the default 0.5 s would slow every reset.
        self.serve_forever(poll_interval=0.02)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed mid-request is routine here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle plus delayed ACK would add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _RuntimeAPIServer(_Server):
    def __init__(self, sandbox: _Sandbox) -> None:
        self.sandbox = sandbox
        super().__init__(("127.0.0.1", 0), _RuntimeAPIHandler)


class _RuntimeAPIHandler(_Handler):
    server: _RuntimeAPIServer

    def do_GET(self) -> None:
        if self.path != f"{_RUNTIME_PREFIX}/invocation/next":
            self._send(404, _error_body("NotFound", f"unknown path {self.path}"))
            return
        sandbox = self.server.sandbox
        inv = sandbox.next_invocation()
        if inv is None:
            # The sandbox is being torn down; the runtime will be killed.
            self.close_connection = True
            return
        assert inv.deadline is not None
        self._send(
            200,
            inv.body,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": sandbox.config.arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
                # The native client crashes on a reply without it.
                "Content-Type": "application/json",
            },
        )

    def do_POST(self) -> None:
        body = self._read_body()
        sandbox = self.server.sandbox
        match = _RESULT_PATH.fullmatch(self.path)
        if match:
            status = sandbox.post_result(match["id"], match["kind"], body)
        elif self.path == f"{_RUNTIME_PREFIX}/init/error":
            status = sandbox.post_init_error(body)
        else:
            self._send(404, _error_body("NotFound", f"unknown path {self.path}"))
            return
        if status == 202:
            self._send(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        elif status == 400:
            self._send(400, _error_body("InvalidRequestID", "Invalid request ID"))
        else:
            self._send(
                403, _error_body("InvalidStateTransition", "State transition is not allowed")
            )


class _Sandbox:
    """One runtime process plus the Runtime API server it polls."""

    def __init__(self, config: FunctionConfig, log_path: str | None, freeze: bool) -> None:
        self.config = config
        self._freeze = freeze
        self._cond = threading.Condition()
        self._ready = False  # the runtime is blocked in /next with nothing handed out
        self._offered: _Invocation | None = None
        self._current: _Invocation | None = None
        self._outcome: tuple[str, bytes] | None = None
        self._handed_at = 0.0
        self._init_error: bytes | None = None
        self._exited = False
        self._closed = False
        self.frozen = False
        self._server = _RuntimeAPIServer(self)
        self._server_thread = threading.Thread(
            target=self._server.serve,
            name=f"lambda-runtime-api-{config.name}",
            daemon=True,
        )
        self._server_thread.start()
        try:
            self._proc = self._spawn(log_path)
        except BaseException:
            self._stop_server()
            raise
        self.pid = self._proc.pid
        self._watcher = threading.Thread(
            target=self._watch, name=f"lambda-reaper-{self.pid}", daemon=True
        )
        self._watcher.start()

    def _spawn(self, log_path: str | None) -> subprocess.Popen[bytes]:
        cfg = self.config
        task_root = os.path.abspath(cfg.task_root)
        env = dict(os.environ)
        pythonpath = [task_root, *filter(None, [env.get("PYTHONPATH")])]
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self._server.server_port}",
                "PYTHONPATH": os.pathsep.join(pythonpath),
                "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_size),
                "AWS_REGION": cfg.region,
                "AWS_DEFAULT_REGION": cfg.region,
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{cfg.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": (
                    f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
                ),
                "_HANDLER": cfg.handler,
                "LAMBDA_TASK_ROOT": task_root,
                # Makes awslambdaric poll /next off the main thread, so signals reach handlers.
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            }
        )
        env.update(cfg.env)
        # Without a log file, runtime output joins the emulator's stderr, keeping stdout clean.
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", cfg.handler],
                cwd=task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log if log else 2,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log:
                log.close()

    def _watch(self) -> None:
        self._proc.wait()
        with self._cond:
            self._exited = True
            self._cond.notify_all()

    # Runtime API side, called from server threads.

    def next_invocation(self) -> _Invocation | None:
        with self._cond:
            self._ready = True
            self._cond.notify_all()
            while self._offered is None and not self._closed:
                self._cond.wait()
            inv, self._offered = self._offered, None
            if inv is None:
                return None
            self._ready = False
            self._current, self._outcome = inv, None
            self._handed_at = time.monotonic()
            now = time.time()
            if inv.deadline is None:
                inv.deadline = now + self.config.timeout
            inv.budget = inv.deadline - now
            self._cond.notify_all()
            return inv

    def post_result(self, request_id: str, kind: str, body: bytes) -> int:
        with self._cond:
            if self._current is None or self._current.request_id != request_id:
                return 400
            if self._outcome is not None:
                return 403
            self._outcome = ("success" if kind == "response" else "error", body)
            self._cond.notify_all()
            return 202

    def post_init_error(self, body: bytes) -> int:
        with self._cond:
            if self._init_error is not None:
                return 403
            self._init_error = body
            self._cond.notify_all()
            return 202

    # Invoker side.

    def run(self, inv: _Invocation, cold: bool) -> tuple[InvocationResult, bool]:
        """Hand ``inv`` to the runtime and wait for its outcome.

        Returns the result and whether the sandbox can serve another invocation.
        """
        start = time.monotonic()
        with self._cond:
            if self.frozen:
                _signal_group(self.pid, signal.SIGCONT)
                self.frozen = False
            self._offered, self._current, self._outcome = inv, None, None
            self._cond.notify_all()
            while True:
                if self._outcome is not None or self._init_error is not None or self._exited:
                    break
                if self._current is inv:
                    assert inv.deadline is not None
                    remaining = inv.deadline - time.time()
                else:
                    remaining = start + _INIT_TIMEOUT - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._offered = None
            began = self._handed_at if self._current is inv else start
            duration = time.monotonic() - began

            def result(status: str, raw: bytes) -> InvocationResult:
                return InvocationResult(
                    inv.request_id, status, _decode(raw), raw, duration, cold_start=cold
                )

            if self._outcome is not None:
                return result(*self._outcome), self._settle(inv)
            if self._init_error is not None:
                return result("error", self._init_error), False
            if self._exited:
                code = self._proc.returncode
                how = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                message = f"RequestId: {inv.request_id} Error: Runtime exited with error: {how}"
                return result("error", _error_body("Runtime.ExitError", message)), False
            limit, what = (inv.budget, "Task") if self._current is inv else (_INIT_TIMEOUT, "Init")
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = f"{stamp} {inv.request_id} {what} timed out after {limit:.2f} seconds"
            return result("timeout", _error_body("Sandbox.Timedout", message)), False

    def _settle(self, inv: _Invocation) -> bool:
        """After a result: wait for the runtime to come back to /next, then freeze it.

        Real Lambda ends the invoke phase when the runtime calls /next; a runtime that does
        not get there before the deadline gets its sandbox reset.
        """
        assert inv.deadline is not None
        while not self._ready and not self._exited:
            remaining = inv.deadline - time.time()
            if remaining <= 0:
                return False
            self._cond.wait(remaining)
        if self._exited:
            return False
        if self._freeze:
            _signal_group(self.pid, signal.SIGSTOP)
            self.frozen = True
            self._wait_stopped()
        return True

    def _wait_stopped(self) -> None:
        # SIGSTOP lands asynchronously; wait so callers never see a half-frozen sandbox.
        give_up = time.monotonic() + 1.0
        while time.monotonic() < give_up:
            state = _proc_state(self.pid)
            if state is None or state in "TtZX":
                return
            time.sleep(0.001)

    def close(self, *, graceful: bool) -> None:
        """Kill the process group, reap the runtime and stop the Runtime API server."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        try:
            if graceful and not self._exited:
                _signal_group(self.pid, signal.SIGCONT)
                _signal_group(self.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(_SHUTDOWN_GRACE)
            # Also after a clean exit: the handler may have left children in the group.
            _signal_group(self.pid, signal.SIGKILL)
            self._proc.wait()
            self._watcher.join()
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server_thread.join()


class _Function:
    """A function's sandbox, history and asynchronous-invocation queue."""

    def __init__(
        self, config: FunctionConfig, freeze: bool, log_path: str | None, retry_delay: float
    ) -> None:
        self.config = config
        self.log_path = log_path
        self._freeze = freeze
        self._retry_delay = retry_delay
        self._invoke_lock = threading.Lock()  # one sandbox: one invocation at a time
        self._state_lock = threading.Lock()
        self._sandbox: _Sandbox | None = None
        self._closed = False
        self._history: list[InvocationResult] = []
        self._async_cond = threading.Condition()
        self._async_queue: list[_AsyncJob] = []
        self._async_pending = 0
        self._async_seq = 0
        self._async_worker: threading.Thread | None = None

    @property
    def sandbox(self) -> _Sandbox | None:
        return self._sandbox

    def history(self) -> list[InvocationResult]:
        with self._state_lock:
            return list(self._history)

    def invoke(self, body: bytes, request_id: str, deadline: float | None) -> InvocationResult:
        inv = _Invocation(request_id, body, deadline, _new_trace_id())
        with self._invoke_lock:
            with self._state_lock:
                if self._closed:
                    raise RuntimeError("the emulator is stopped")
                sandbox, cold = self._sandbox, self._sandbox is None
                if sandbox is None:
                    try:
                        sandbox = self._sandbox = _Sandbox(self.config, self.log_path, self._freeze)
                    except OSError as exc:
                        # What Lambda reports when the runtime cannot be started.
                        raw = _error_body("Runtime.InvalidEntrypoint", str(exc))
                        failed = InvocationResult(request_id, "error", _decode(raw), raw, 0.0, True)
                        self._history.append(failed)
                        return failed
            result, keep = sandbox.run(inv, cold)
            with self._state_lock:
                self._history.append(result)
                if keep and not self._closed:
                    return result
                self._sandbox = None
            sandbox.close(graceful=False)
            return result

    def submit_async(self, body: bytes, request_id: str) -> None:
        with self._async_cond:
            if self._closed:
                raise RuntimeError("the emulator is stopped")
            self._push(time.monotonic(), body, request_id, 1)
            self._async_pending += 1
            if self._async_worker is None:
                self._async_worker = threading.Thread(
                    target=self._drain, name=f"lambda-async-{self.config.name}", daemon=True
                )
                self._async_worker.start()

    def _push(self, due: float, body: bytes, request_id: str, attempt: int) -> None:
        self._async_seq += 1
        heapq.heappush(
            self._async_queue, _AsyncJob(due, self._async_seq, body, request_id, attempt)
        )
        self._async_cond.notify_all()

    def _drain(self) -> None:
        while True:
            with self._async_cond:
                while not self._closed:
                    wait = (
                        self._async_queue[0].due - time.monotonic() if self._async_queue else None
                    )
                    if wait is not None and wait <= 0:
                        break
                    self._async_cond.wait(wait)
                if self._closed:
                    return
                job = heapq.heappop(self._async_queue)
            try:
                result = self.invoke(job.body, job.request_id, None)
            except RuntimeError:
                return
            with self._async_cond:
                if result.status != "success" and job.attempt < _ASYNC_ATTEMPTS:
                    # Lambda waits 1 min, then 2 min; keep the ratio at a test-friendly scale.
                    due = time.monotonic() + self._retry_delay * job.attempt
                    self._push(due, job.body, job.request_id, job.attempt + 1)
                else:
                    self._async_pending -= 1
                    self._async_cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._async_cond:
            return self._async_cond.wait_for(
                lambda: self._async_pending == 0 or self._closed, max(timeout, 0.0)
            )

    def close(self) -> None:
        with self._state_lock:
            self._closed = True
            sandbox, self._sandbox = self._sandbox, None
        with self._async_cond:
            self._async_queue.clear()
            self._async_cond.notify_all()
        try:
            if sandbox is not None:
                sandbox.close(graceful=True)
        finally:
            if self._async_worker is not None:
                self._async_worker.join()


class _InvokeAPIServer(_Server):
    def __init__(self, emulator: LambdaEmulator, host: str, port: int) -> None:
        self.emulator = emulator
        super().__init__((host, port), _InvokeAPIHandler)


class _InvokeAPIHandler(_Handler):
    server: _InvokeAPIServer

    def do_POST(self) -> None:
        body = self._read_body()
        status, headers, reply = self.server.emulator._serve_invoke(
            urlsplit(self.path).path, self.headers, body
        )
        self._send(status, reply, headers)

    def do_GET(self) -> None:
        status, headers, reply = _api_error(
            404, "UnknownOperationException", f"Unknown operation GET {self.path}"
        )
        self._send(status, reply, headers)


def _api_error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return (
        status,
        {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": error_type,
            "x-amzn-RequestId": str(uuid.uuid4()),
        },
        body,
    )


def _function_name(identifier: str) -> str:
    """Accept a name, a name with qualifier, a partial ARN or a full ARN, like Lambda."""
    if ":function:" in identifier:
        identifier = identifier.split(":function:", 1)[1]
    return identifier.split(":", 1)[0]


class LambdaEmulator:
    """Hosts Lambda functions locally under the real ``awslambdaric`` runtime client.

    ``freeze`` stops a sandbox (SIGSTOP to its process group) between invocations, as Lambda
    does, so work a handler left running after returning makes no progress. Runtime output
    goes to ``<log_dir>/<name>.log``; without ``log_dir`` to a temporary directory removed by
    :meth:`stop`, or, with ``capture_logs=False``, to the emulator's stderr.
    ``async_retry_delay`` is the wait before the first retry of a failed asynchronous
    invocation (the second waits twice as long).
    """

    def __init__(
        self,
        functions: list[FunctionConfig],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        freeze: bool = True,
        log_dir: str | None = None,
        async_retry_delay: float = 0.5,
        capture_logs: bool = True,
    ) -> None:
        names = [f.name for f in functions]
        for name in names:
            if not _FUNCTION_NAME.fullmatch(name):
                raise ValueError(f"invalid function name {name!r}: use 1-64 of [A-Za-z0-9_-]")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate function names in {names}")
        self._host, self._port = host, port
        self._temp_log_dir: str | None = None
        if not capture_logs:
            log_dir = None
        elif log_dir is None:
            log_dir = self._temp_log_dir = tempfile.mkdtemp(prefix="skiff-lambda-logs-")
        else:
            os.makedirs(log_dir, exist_ok=True)
        self._functions = {
            f.name: _Function(
                f,
                freeze,
                os.path.join(log_dir, f"{f.name}.log") if log_dir else None,
                async_retry_delay,
            )
            for f in functions
        }
        self._server: _InvokeAPIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._stopped = False
        _live.add(self)

    def start(self) -> None:
        """Serve the Invoke API in a background thread (no-op when already serving)."""
        if self._stopped:
            raise RuntimeError("the emulator is stopped")
        if self._server is not None:
            return
        self._server = _InvokeAPIServer(self, self._host, self._port)
        self._server_thread = threading.Thread(
            target=self._server.serve, name="lambda-invoke-api", daemon=True
        )
        self._server_thread.start()

    def stop(self) -> None:
        """Stop serving, kill and reap every runtime process and drop queued async work."""
        self._stopped = True
        errors: list[BaseException] = []
        if self._server is not None and self._server_thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server_thread.join()
        for function in self._functions.values():
            try:
                function.close()
            except BaseException as exc:  # keep reaping the others
                errors.append(exc)
        if self._temp_log_dir:
            shutil.rmtree(self._temp_log_dir, ignore_errors=True)
        _live.discard(self)
        if errors:
            raise errors[0]

    def __enter__(self) -> LambdaEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """Base URL of the Invoke API, for boto3's ``endpoint_url``."""
        if self._server is None:
            raise RuntimeError("call start() first")
        return f"http://{self._server.server_name}:{self._server.server_port}"

    def _function(self, name: str) -> _Function:
        try:
            return self._functions[name]
        except KeyError:
            raise KeyError(f"unknown function {name!r}") from None

    def invoke(
        self,
        name: str,
        event: Any,
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> InvocationResult:
        """Invoke ``name`` with the JSON-serialisable ``event`` and wait for the outcome.

        ``request_id`` pins the request id; ``deadline`` (epoch seconds, as from
        ``time.time()``) replaces the function timeout for this invocation. Raises
        ``KeyError`` for an unknown function and ``RuntimeError`` after :meth:`stop`.
        """
        return self._function(name).invoke(
            json.dumps(event).encode(), _checked_request_id(request_id), deadline
        )

    def invoke_async(self, name: str, event: Any, *, request_id: str | None = None) -> str:
        """Queue an invocation like ``InvocationType=Event``; returns its request id.

        A failed attempt is retried twice with the same request id.
        """
        request_id = _checked_request_id(request_id)
        self._function(name).submit_async(json.dumps(event).encode(), request_id)
        return request_id

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued async invocation, retries included, has finished."""
        give_up = time.monotonic() + timeout
        return all(f.wait_idle(give_up - time.monotonic()) for f in self._functions.values())

    def is_frozen(self, name: str) -> bool:
        """Whether the function's sandbox is currently frozen."""
        sandbox = self._function(name).sandbox
        return sandbox is not None and sandbox.frozen

    def pid(self, name: str) -> int | None:
        """Pid of the function's runtime process, or None while it has no sandbox."""
        sandbox = self._function(name).sandbox
        return sandbox.pid if sandbox else None

    def invocations(self, name: str) -> list[InvocationResult]:
        """Every invocation attempt of the function so far, async retries included."""
        return self._function(name).history()

    def log_path(self, name: str) -> str | None:
        """File collecting the function's runtime output, or None when not captured."""
        return self._function(name).log_path

    def _serve_invoke(
        self, path: str, headers: Message, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        match = _INVOKE_PATH.fullmatch(path)
        if not match:
            return _api_error(404, "UnknownOperationException", f"Unknown operation {path}")
        name = _function_name(unquote(match["name"]))
        function = self._functions.get(name)
        if function is None:
            region = next((f.config.region for f in self._functions.values()), "us-east-1")
            arn = f"arn:aws:lambda:{region}:{_ACCOUNT_ID}:function:{name}"
            return _api_error(404, "ResourceNotFoundException", f"Function not found: {arn}")
        try:
            request_id = _checked_request_id(headers.get(REQUEST_ID_HEADER))
        except ValueError as exc:
            return _api_error(400, "InvalidParameterValueException", str(exc))
        body = body or b"{}"
        try:
            json.loads(body)
        except ValueError as exc:
            return _api_error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {exc}",
            )
        kind = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        ids = {"x-amzn-RequestId": request_id}
        if kind == "DryRun":
            return 204, ids, b""
        if kind not in ("Event", "RequestResponse"):
            return _api_error(
                400, "InvalidParameterValueException", f"Unsupported invocation type {kind}"
            )
        try:
            if kind == "Event":
                function.submit_async(body, request_id)
                return 202, ids, b""
            result = function.invoke(body, request_id, None)
        except RuntimeError:  # stop() is under way
            return _api_error(503, "ServiceException", "The emulator is stopping")
        reply = {**ids, "Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if result.status != "success":
            reply["X-Amz-Function-Error"] = "Unhandled"
        return 200, reply, result.raw


def _checked_request_id(request_id: str | None) -> str:
    if request_id is None:
        return str(uuid.uuid4())
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"invalid request id {request_id!r}: use 1-200 printable ASCII characters")
    return request_id


# Frozen runtimes would stay stopped forever if the interpreter exited without stop(). This
# is why every emulator thread is a daemon: exit joins other threads before atexit runs.
# Strong references on purpose: an emulator dropped without stop() still gets cleaned up.
_live: set[LambdaEmulator] = set()


@atexit.register
def _stop_live_emulators() -> None:
    for emulator in list(_live):
        with contextlib.suppress(Exception):
            emulator.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m skiff.adapters.aws_lambda.emulator",
        description=(
            "Run a Python Lambda handler locally under the real awslambdaric runtime client "
            "and serve the Lambda Invoke API for boto3 (endpoint_url)."
        ),
    )
    parser.add_argument("--handler", required=True, help="handler as module.function")
    parser.add_argument("--task-root", required=True, help="directory holding the handler code")
    parser.add_argument("--name", default="function", help="function name (default: function)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default: 3)")
    parser.add_argument("--memory", type=int, default=128, help="memory size in MB (default: 128)")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument("--port", type=int, default=0, help="Invoke API port (default: any free)")
    parser.add_argument(
        "--no-freeze", action="store_true", help="do not SIGSTOP the runtime between invocations"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="function env var (repeatable)"
    )
    parser.add_argument("--log-dir", help="write runtime output to DIR/NAME.log, not stderr")
    parser.add_argument(
        "--invoke", metavar="JSON", help="invoke once with this event, print the result and exit"
    )
    args = parser.parse_args(argv)
    module, _, function = args.handler.rpartition(".")
    if not module or not function:
        parser.error(f"--handler must look like module.function, got {args.handler!r}")
    if not os.path.isdir(args.task_root):
        parser.error(f"--task-root {args.task_root!r} is not a directory")
    if not _FUNCTION_NAME.fullmatch(args.name):
        parser.error(f"--name {args.name!r} must be 1-64 of [A-Za-z0-9_-]")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be within 0-65535")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env expects K=V, got {item!r}")
        env[key] = value
    args.env = env
    if args.invoke is not None:
        try:
            args.invoke = json.loads(args.invoke)
        except ValueError as exc:
            parser.error(f"--invoke is not valid JSON: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parse_args(argv)
    config = FunctionConfig(
        name=args.name,
        handler=args.handler,
        task_root=args.task_root,
        timeout=args.timeout,
        memory_size=args.memory,
        env=args.env,
        region=args.region,
    )
    emulator = LambdaEmulator(
        [config],
        port=args.port,
        freeze=not args.no_freeze,
        log_dir=args.log_dir,
        capture_logs=args.log_dir is not None,
    )
    try:
        if args.invoke is not None:
            result = emulator.invoke(config.name, args.invoke)
            print(json.dumps(result.payload, indent=2))
            if result.status != "success":
                print(f"invocation {result.request_id}: {result.status}", file=sys.stderr)
                return 1
            return 0
        try:
            emulator.start()
        except OSError as exc:
            print(f"error: cannot listen on port {args.port}: {exc}", file=sys.stderr)
            return 1
        url = emulator.endpoint_url
        print(f"Lambda emulator: function {config.name!r} ({config.handler}) at {url}")
        print(
            "  boto3.client('lambda', endpoint_url="
            f"{url!r}, region_name={config.region!r},\n"
            "               aws_access_key_id='x', aws_secret_access_key='x')"
            f".invoke(FunctionName={config.name!r}, Payload=b'{{}}')"
        )
        print("Press Ctrl-C to stop.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
