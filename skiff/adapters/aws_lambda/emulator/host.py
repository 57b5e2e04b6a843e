"""The emulator: functions, their sandboxes, invocation history and asynchronous retries."""

from __future__ import annotations

import atexit
import contextlib
import heapq
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ._http import decode, error_body
from .extensions import ExtensionError, RegisteredExtension
from .invoke import InvocationResult, InvokeAPIServer, OnResponse, checked_request_id, run_phase
from .runtime import Invocation
from .sandbox import FUNCTION_NAME, FunctionConfig, Sandbox

__all__ = ["Function", "LambdaEmulator"]

# Lambda retries a failed asynchronous invocation twice.
_ASYNC_ATTEMPTS = 3


def _new_trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
        f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
    )


@dataclass(order=True)
class _AsyncJob:
    due: float
    seq: int
    body: bytes = field(compare=False)
    request_id: str = field(compare=False)
    attempt: int = field(compare=False)


class Function:
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
        self._recorded = threading.Condition(self._state_lock)
        self._sandbox: Sandbox | None = None
        self._closed = False
        self._history: list[InvocationResult] = []
        self._extension_errors: list[ExtensionError] = []
        self._async_cond = threading.Condition()
        self._async_queue: list[_AsyncJob] = []
        self._async_pending = 0
        self._async_seq = 0
        self._async_worker: threading.Thread | None = None

    @property
    def sandbox(self) -> Sandbox | None:
        """The live sandbox, if any."""
        return self._sandbox

    def history(self) -> list[InvocationResult]:
        """Every finished invocation attempt, oldest first."""
        with self._state_lock:
            return list(self._history)

    def extension_errors(self) -> list[ExtensionError]:
        """Every error an extension reported, across sandboxes."""
        with self._state_lock:
            return list(self._extension_errors)

    def wait_recorded(self, request_id: str, timeout: float) -> InvocationResult | None:
        """The latest finished attempt with ``request_id``, waiting up to ``timeout``."""

        def latest() -> InvocationResult | None:
            return next((r for r in reversed(self._history) if r.request_id == request_id), None)

        with self._recorded:
            self._recorded.wait_for(lambda: latest() is not None, max(timeout, 0.0))
            return latest()

    def invoke(
        self,
        body: bytes,
        request_id: str,
        deadline: float | None,
        on_response: OnResponse | None = None,
    ) -> InvocationResult:
        """Run one invocation; returns once its invoke phase has ended."""
        inv = Invocation(request_id, body, deadline, _new_trace_id())
        with self._invoke_lock:
            with self._state_lock:
                if self._closed:
                    raise RuntimeError("the emulator is stopped")
                sandbox = self._sandbox
            cold = sandbox is None
            if sandbox is None:
                try:
                    sandbox = Sandbox(
                        self.config, self.log_path, self._freeze, self._extension_errors
                    )
                except OSError as exc:
                    # What Lambda reports when the runtime cannot be started.
                    raw = error_body("Runtime.InvalidEntrypoint", str(exc))
                    failed = InvocationResult(request_id, "error", decode(raw), raw, 0.0, True)
                    if on_response:
                        on_response("error", raw)
                    self._record(failed)
                    return failed
                with self._state_lock:
                    closed = self._closed
                    if not closed:
                        self._sandbox = sandbox
                if closed:
                    sandbox.shutdown("spindown")
                    raise RuntimeError("the emulator is stopped")
            result, reset = run_phase(sandbox, inv, cold, on_response)
            with self._state_lock:
                if reset is None and not self._closed:
                    self._history.append(result)
                    self._recorded.notify_all()
                    return result
                self._sandbox = None
            sandbox.shutdown(reset or "spindown")
            self._record(result)
            return result

    def _record(self, result: InvocationResult) -> None:
        with self._recorded:
            self._history.append(result)
            self._recorded.notify_all()

    def submit_async(self, body: bytes, request_id: str) -> None:
        """Queue an asynchronous invocation (retried twice on failure)."""
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
        """Wait until every queued async invocation, retries included, has finished."""
        with self._async_cond:
            return self._async_cond.wait_for(
                lambda: self._async_pending == 0 or self._closed, max(timeout, 0.0)
            )

    def close(self) -> None:
        """Drop queued async work and shut the sandbox down (reason ``spindown``)."""
        with self._state_lock:
            self._closed = True
            sandbox, self._sandbox = self._sandbox, None
        with self._async_cond:
            self._async_queue.clear()
            self._async_cond.notify_all()
        try:
            if sandbox is not None:
                sandbox.shutdown("spindown")
        finally:
            if self._async_worker is not None:
                self._async_worker.join()


class LambdaEmulator:
    """Hosts Lambda functions locally under the real ``awslambdaric`` runtime client.

    ``freeze`` stops a sandbox (SIGSTOP to its process groups) at the end of each invoke
    phase, as Lambda does, so work left running after it makes no progress. Runtime and
    extension output goes to ``<log_dir>/<name>.log``; without ``log_dir`` to a temporary
    directory removed by :meth:`stop`, or, with ``capture_logs=False``, to the emulator's
    stderr. ``async_retry_delay`` is the wait before the first retry of a failed
    asynchronous invocation (the second waits twice as long).
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
            if not FUNCTION_NAME.fullmatch(name):
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
            f.name: Function(
                f,
                freeze,
                os.path.join(log_dir, f"{f.name}.log") if log_dir else None,
                async_retry_delay,
            )
            for f in functions
        }
        self._server: InvokeAPIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._stopped = False
        _live.add(self)

    def start(self) -> None:
        """Serve the Invoke API in a background thread (no-op when already serving)."""
        if self._stopped:
            raise RuntimeError("the emulator is stopped")
        if self._server is not None:
            return
        self._server = InvokeAPIServer(self._functions, self._host, self._port)
        self._server_thread = threading.Thread(
            target=self._server.serve, name="lambda-invoke-api", daemon=True
        )
        self._server_thread.start()

    def stop(self) -> None:
        """Stop serving, shut every sandbox down (reason ``spindown``), drop async work."""
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

    def _function(self, name: str) -> Function:
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
        """Invoke ``name`` with the JSON-serialisable ``event``; return once its phase ends.

        The phase ends when the runtime and every extension have called ``next`` (the
        sandbox is frozen by then, with freezing on); ``response_duration`` says when the
        caller would have had its answer. ``request_id`` pins the request id; ``deadline``
        (epoch seconds, as from ``time.time()``) replaces the function timeout for this
        invocation. Raises ``KeyError`` for an unknown function and ``RuntimeError`` after
        :meth:`stop`.
        """
        return self._function(name).invoke(
            json.dumps(event).encode(), checked_request_id(request_id), deadline
        )

    def invoke_async(self, name: str, event: Any, *, request_id: str | None = None) -> str:
        """Queue an invocation like ``InvocationType=Event``; returns its request id.

        A failed attempt is retried twice with the same request id.
        """
        request_id = checked_request_id(request_id)
        self._function(name).submit_async(json.dumps(event).encode(), request_id)
        return request_id

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued async invocation, retries included, has finished."""
        give_up = time.monotonic() + timeout
        return all(f.wait_idle(give_up - time.monotonic()) for f in self._functions.values())

    def wait_invocation(
        self, name: str, request_id: str, timeout: float
    ) -> InvocationResult | None:
        """The invocation ``request_id`` once its phase has ended (None after ``timeout``).

        For a call through the Invoke API, which returns before its phase ends.
        """
        return self._function(name).wait_recorded(request_id, timeout)

    def is_frozen(self, name: str) -> bool:
        """Whether the function's sandbox is currently frozen."""
        sandbox = self._function(name).sandbox
        return sandbox is not None and sandbox.frozen

    def pid(self, name: str) -> int | None:
        """Pid of the function's runtime process, or None while it has no sandbox."""
        sandbox = self._function(name).sandbox
        return sandbox.pid if sandbox else None

    def extensions(self, name: str) -> list[RegisteredExtension]:
        """Extensions registered in the function's current sandbox (empty without one)."""
        sandbox = self._function(name).sandbox
        if sandbox is None:
            return []
        with sandbox.cond:
            return sandbox.extensions.registered()

    def extension_errors(self, name: str) -> list[ExtensionError]:
        """Every init or exit error the function's extensions reported, oldest first."""
        return self._function(name).extension_errors()

    def invocations(self, name: str) -> list[InvocationResult]:
        """Every finished invocation attempt of the function, async retries included."""
        return self._function(name).history()

    def log_path(self, name: str) -> str | None:
        """File collecting the function's runtime output, or None when not captured."""
        return self._function(name).log_path


# Frozen runtimes would stay stopped forever if the interpreter exited without stop(). This
# is why every emulator thread is a daemon: exit joins other threads before atexit runs.
# Strong references on purpose: an emulator dropped without stop() still gets cleaned up.
_live: set[LambdaEmulator] = set()


@atexit.register
def _stop_live_emulators() -> None:
    for emulator in list(_live):
        with contextlib.suppress(Exception):
            emulator.stop()
