"""The invoke phase, and the Invoke API that callers (boto3) reach it through.

An invocation, as on Lambda:

1. waits for init to end (runtime and every registered extension in ``next``), within 10 s;
2. hands the event to the runtime and an INVOKE event to every extension registered for
   it, with the same deadline;
3. answers the caller as soon as the runtime posts its response or error;
4. ends the phase only when the runtime *and* every extension have called ``next`` again
   (or, failing that, at the deadline: the sandbox is then reset); only then is the
   sandbox frozen, and the billed duration runs until that last ``next``.

The Invoke API (``POST /2015-03-31/functions/{name}/invocations``) returns at step 3
(``RequestResponse``), at once with 202 (``Event``: queued, retried twice on failure) or
204 (``DryRun``); a payload over :data:`PAYLOAD_LIMITS` gets 413.
``GET /_skiff/functions/{name}/invocations`` lists each finished invocation's timing record
(see :meth:`InvocationResult.record`).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ._http import Handler, Reply, Server, decode, error_body, json_reply
from .runtime import Invocation
from .sandbox import ACCOUNT_ID, INIT_TIMEOUT, Sandbox, exit_description

if TYPE_CHECKING:
    from .host import Function

__all__ = [
    "PAYLOAD_LIMITS",
    "REQUEST_ID_HEADER",
    "InvocationResult",
    "InvokeAPIServer",
    "OnResponse",
    "checked_request_id",
    "run_phase",
]

PAYLOAD_LIMITS: Mapping[str, int] = {"Event": 256 * 1024, "RequestResponse": 6 * 1024 * 1024}
"""Invoke payload limits by invocation type, in bytes (a larger body gets Lambda's 413)."""

REQUEST_ID_HEADER = "X-Skiff-Request-Id"
"""Invoke API request header that pins the request id of the invocation."""

OnResponse = Callable[[str, bytes], None]
"""Called once with (status, body) when the caller's answer is known."""

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
_STATS_PATH = re.compile(r"/_skiff/functions/(?P<name>[^/]+)/invocations")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass
class InvocationResult:
    """Outcome and timing of one invocation attempt.

    ``status`` is ``"success"``, ``"error"`` (handler raised, init failed, the runtime or an
    extension failed) or ``"timeout"``; ``payload`` is the decoded response or error object
    and ``raw`` its bytes: what the caller got. Durations count from hand-off to the
    runtime (from the start of the attempt when the runtime never took it):
    ``response_duration`` until the runtime posted its answer (the caller's wait) and
    ``duration`` until the invoke phase ended with the last ``next`` (Lambda's billed
    duration). ``post_runtime_duration`` is Lambda's PostRuntimeExecutionDuration, from the
    runtime's ``next`` to the last extension's. ``phase_error`` names what ended a phase
    abnormally after the caller had its answer (``Sandbox.Timedout`` when an extension did
    not call ``next`` before the deadline, ``Extension.ExitError``...).
    """

    request_id: str
    status: str
    payload: Any
    raw: bytes
    duration: float
    cold_start: bool
    response_duration: float = 0.0
    post_runtime_duration: float = 0.0
    phase_error: str | None = None

    @property
    def billed_ms(self) -> int:
        """Billed duration in whole milliseconds, rounded up as Lambda bills."""
        return math.ceil(self.duration * 1000)

    def record(self) -> dict[str, Any]:
        """The timing record the stats endpoint serves (JSON-ready, milliseconds)."""
        return {
            "requestId": self.request_id,
            "status": self.status,
            "coldStart": self.cold_start,
            "responseMs": round(self.response_duration * 1000, 3),
            "durationMs": round(self.duration * 1000, 3),
            "billedDurationMs": self.billed_ms,
            "postRuntimeExecutionMs": round(self.post_runtime_duration * 1000, 3),
            "phaseError": self.phase_error,
        }


def _timeout_body(request_id: str, what: str, limit: float) -> bytes:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return error_body(
        "Sandbox.Timedout", f"{stamp} {request_id} {what} timed out after {limit:.2f} seconds"
    )


def _exit_body(request_id: str, code: int | None) -> bytes:
    how = exit_description(code) if code is not None else "the sandbox is shutting down"
    return error_body(
        "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {how}"
    )


def _init_failure(sb: Sandbox, inv: Invocation) -> tuple[str, bytes] | None:
    """Wait for init to end; the (status, body) of its failure, or None once it is over."""
    give_up = sb.init_started + INIT_TIMEOUT
    while not (sb.runtime.ready and sb.extensions.all_waiting()):
        if sb.runtime.init_error is not None:
            return "error", sb.runtime.init_error
        if sb.extensions.failure is not None:
            return "error", error_body(*sb.extensions.failure)
        if sb.runtime_exit is not None:
            return "error", _exit_body(inv.request_id, sb.runtime_exit)
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            return "timeout", _timeout_body(inv.request_id, "Init", INIT_TIMEOUT)
        sb.cond.wait(remaining)
    sb.initialized = True
    sb.extensions.in_init = False
    return None


def _phase_failure(sb: Sandbox) -> str | None:
    if sb.extensions.failure is not None:
        return sb.extensions.failure[0]
    if sb.runtime_exit is not None or sb.runtime.closed:
        return "Runtime.ExitError"
    return None


def run_phase(
    sb: Sandbox, inv: Invocation, cold: bool, on_response: OnResponse | None
) -> tuple[InvocationResult, str | None]:
    """Run one invocation through ``sb``; the result and the shutdown reason if it must reset.

    ``on_response`` is called once, as soon as the caller's answer is known. With the
    result's reason None the sandbox is kept (and frozen, when freezing is on).
    """
    start = time.monotonic()
    with sb.cond:
        sb.thaw()
        failed = _init_failure(sb, inv) if not sb.initialized else None
        if failed is not None:
            if on_response:
                on_response(*failed)
            duration = time.monotonic() - start
            result = InvocationResult(
                inv.request_id, failed[0], decode(failed[1]), failed[1], duration, cold, duration
            )
            return result, "failure"
        now = time.time()
        if inv.deadline is None:
            inv.deadline = now + sb.config.timeout
        inv.budget = inv.deadline - now
        sb.runtime.offer(inv)
        sb.extensions.dispatch_invoke(
            {
                "eventType": "INVOKE",
                "deadlineMs": int(inv.deadline * 1000),
                "requestId": inv.request_id,
                "invokedFunctionArn": sb.config.arn,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
            }
        )
        handed = time.monotonic()
        while sb.runtime.outcome is None and _phase_failure(sb) is None:
            remaining = inv.deadline - time.time()
            if remaining <= 0:
                break
            sb.cond.wait(remaining)
        if sb.runtime.outcome is not None:
            status, raw = sb.runtime.outcome
            response_at = sb.runtime.outcome_at
        elif sb.extensions.failure is not None:
            status, raw = "error", error_body(*sb.extensions.failure)
        elif sb.runtime_exit is not None or sb.runtime.closed:
            status, raw = "error", _exit_body(inv.request_id, sb.runtime_exit)
        else:
            status, raw = "timeout", _timeout_body(inv.request_id, "Task", inv.budget)
        if on_response:
            on_response(status, raw)
        if sb.runtime.outcome is None:
            duration = time.monotonic() - handed
            reason = "timeout" if status == "timeout" else "failure"
            result = InvocationResult(
                inv.request_id, status, decode(raw), raw, duration, cold, duration
            )
            return result, reason
        # The caller has its answer; the phase lasts until the runtime and every extension
        # are back in next.
        phase_error = None
        while not (sb.runtime.ready and sb.extensions.all_waiting()):
            phase_error = _phase_failure(sb)
            remaining = inv.deadline - time.time()
            if phase_error is None and remaining <= 0:
                phase_error = "Sandbox.Timedout"
            if phase_error is not None:
                break
            sb.cond.wait(remaining)
        runtime_next = sb.runtime.ready_at if phase_error is None else time.monotonic()
        ended = max(runtime_next, sb.extensions.last_next_at())
        if phase_error is None and sb.freeze_enabled:
            sb.freeze()
    result = InvocationResult(
        inv.request_id,
        status,
        decode(raw),
        raw,
        ended - handed,
        cold,
        response_at - handed,
        max(0.0, ended - runtime_next),
        phase_error,
    )
    if phase_error is None:
        return result, None
    return result, "timeout" if phase_error == "Sandbox.Timedout" else "failure"


def checked_request_id(request_id: str | None) -> str:
    """``request_id`` validated as Lambda would, or a new one."""
    if request_id is None:
        return str(uuid.uuid4())
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"invalid request id {request_id!r}: use 1-200 printable ASCII characters")
    return request_id


def _api_error(status: int, error_type: str, message: str) -> Reply:
    return json_reply(
        status,
        {"Type": "User", "message": message},
        {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _function_name(identifier: str) -> str:
    """Accept a name, a name with qualifier, a partial ARN or a full ARN, like Lambda."""
    if ":function:" in identifier:
        identifier = identifier.split(":function:", 1)[1]
    return identifier.split(":", 1)[0]


def _respond_first(function: Function, body: bytes, request_id: str) -> tuple[str, bytes]:
    """Invoke in a thread that lives until the phase ends; return the caller's answer."""
    answer: Future[tuple[str, bytes]] = Future()

    def run() -> None:
        try:
            function.invoke(body, request_id, None, lambda *reply: answer.set_result(reply))
        except BaseException as exc:  # surfaced to the caller, unless it already has its answer
            if not answer.done():
                answer.set_exception(exc)

    threading.Thread(target=run, name=f"lambda-invoke-{request_id}", daemon=True).start()
    return answer.result()


class InvokeAPIServer(Server):
    """The Lambda Invoke API over the emulator's functions, plus the stats endpoint."""

    def __init__(self, functions: Mapping[str, Function], host: str, port: int) -> None:
        self.functions = functions
        super().__init__((host, port), _InvokeAPIHandler)

    def lookup(self, raw_name: str) -> Function | Reply:
        """The function a path names, or the ResourceNotFoundException reply."""
        name = _function_name(unquote(raw_name))
        function = self.functions.get(name)
        if function is not None:
            return function
        region = next((f.config.region for f in self.functions.values()), "us-east-1")
        arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        return _api_error(404, "ResourceNotFoundException", f"Function not found: {arn}")

    def invoke(self, path: str, headers: Message, body: bytes) -> Reply:
        """Serve one Invoke API call."""
        match = _INVOKE_PATH.fullmatch(path)
        if not match:
            return _api_error(404, "UnknownOperationException", f"Unknown operation {path}")
        function = self.lookup(match["name"])
        if isinstance(function, tuple):
            return function
        try:
            request_id = checked_request_id(headers.get(REQUEST_ID_HEADER))
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
        limit = PAYLOAD_LIMITS[kind]
        if len(body) > limit:
            return _api_error(
                413,
                "RequestTooLargeException",
                f"{len(body)} byte payload is too large for the {kind} invocation type "
                f"(limit {limit} bytes)",
            )
        try:
            if kind == "Event":
                function.submit_async(body, request_id)
                return 202, ids, b""
            status, raw = _respond_first(function, body, request_id)
        except RuntimeError:  # stop() is under way
            return _api_error(503, "ServiceException", "The emulator is stopping")
        reply = {**ids, "Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        if status != "success":
            reply["X-Amz-Function-Error"] = "Unhandled"
        return 200, reply, raw

    def stats(self, path: str) -> Reply:
        """Serve ``GET /_skiff/functions/{name}/invocations``."""
        match = _STATS_PATH.fullmatch(path)
        if not match:
            return _api_error(404, "UnknownOperationException", f"Unknown operation GET {path}")
        function = self.lookup(match["name"])
        if isinstance(function, tuple):
            return function
        return json_reply(200, [result.record() for result in function.history()])


class _InvokeAPIHandler(Handler):
    server: InvokeAPIServer

    def do_POST(self) -> None:
        body = self.read_body()
        self.send(self.server.invoke(urlsplit(self.path).path, self.headers, body))

    def do_GET(self) -> None:
        self.send(self.server.stats(urlsplit(self.path).path))
