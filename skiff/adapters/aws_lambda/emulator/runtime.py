"""The Lambda Runtime API (``/2018-06-01/runtime``) and the server that hosts both APIs.

The runtime polls ``GET /invocation/next``, answers with ``POST /invocation/{id}/response``
or ``/invocation/{id}/error``, and reports a failed init with ``POST /init/error``. For
SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) ``GET /restore/next`` answers at
once (the emulator takes no snapshot: the "restored" process is the initialized one) and
``POST /restore/error`` fails the init. The runtime's first ``invocation/next`` ends
extension registration. The same server, at ``AWS_LAMBDA_RUNTIME_API``, serves the
Extensions API (see :mod:`.extensions`).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from ._http import JSON, Handler, Reply, Server, error_body
from .extensions import EXTENSION_PREFIX, ExtensionsAPI

__all__ = ["RUNTIME_PREFIX", "Invocation", "RuntimeAPI", "RuntimeAPIServer"]

RUNTIME_PREFIX = "/2018-06-01/runtime"
"""Path prefix of the Runtime API."""

_RESULT_PATH = re.compile(rf"{RUNTIME_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)")
_ACCEPTED: Reply = (202, JSON, b'{"status":"OK"}')


def _not_found(path: str) -> Reply:
    return 404, JSON, error_body("NotFound", f"unknown path {path}")


@dataclass
class Invocation:
    """One invocation as handed to the runtime."""

    request_id: str
    body: bytes
    deadline: float | None
    """Epoch seconds; None until hand-off means "the function timeout after hand-off"."""
    trace_id: str
    budget: float = 0.0
    """Seconds between hand-off and deadline, for the timeout message."""


class RuntimeAPI:
    """One sandbox's runtime side: the hand-off slot, the outcome and init errors.

    Shares the sandbox's condition ``cond``; the invoker-side attributes are read and
    written under it.
    """

    def __init__(self, cond: threading.Condition, extensions: ExtensionsAPI, arn: str) -> None:
        self.cond = cond
        self.extensions = extensions
        self.arn = arn
        self.ready = False
        """The runtime is blocked in ``invocation/next`` with nothing handed out."""
        self.ready_at = 0.0
        """Monotonic time of the runtime's latest ``invocation/next``."""
        self.offered: Invocation | None = None
        self.current: Invocation | None = None
        self.outcome: tuple[str, bytes] | None = None
        """("success" or "error", body) posted for the current invocation."""
        self.outcome_at = 0.0
        self.init_error: bytes | None = None
        self.closed = False

    def handle(self, method: str, path: str, headers: Message, body: bytes) -> Reply | None:
        """Serve one Runtime API request; None drops the connection."""
        if method == "GET" and path == f"{RUNTIME_PREFIX}/invocation/next":
            return self._next()
        if method == "GET" and path == f"{RUNTIME_PREFIX}/restore/next":
            return 200, JSON, b""
        if method != "POST":
            return _not_found(path)
        match = _RESULT_PATH.fullmatch(path)
        if match:
            return self._post_result(match["id"], match["kind"], body)
        if path in (f"{RUNTIME_PREFIX}/init/error", f"{RUNTIME_PREFIX}/restore/error"):
            return self._post_init_error(body)
        return _not_found(path)

    def _next(self) -> Reply | None:
        with self.cond:
            # Init ends with the runtime's first next: no registration afterwards.
            self.extensions.registration_open = False
            self.ready, self.ready_at = True, time.monotonic()
            self.cond.notify_all()
            while self.offered is None and not self.closed:
                self.cond.wait()
            inv, self.offered = self.offered, None
            if inv is None:
                return None  # torn down: the runtime is about to be killed
            self.current, self.outcome = inv, None
            assert inv.deadline is not None
        return (
            200,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(inv.deadline * 1000)),
                "Lambda-Runtime-Invoked-Function-Arn": self.arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
                # The native client crashes on a reply without it.
                "Content-Type": "application/json",
            },
            inv.body,
        )

    def _post_result(self, request_id: str, kind: str, body: bytes) -> Reply:
        with self.cond:
            if self.current is None or self.current.request_id != request_id:
                return 400, JSON, error_body("InvalidRequestID", "Invalid request ID")
            if self.outcome is not None:
                return (
                    403,
                    JSON,
                    error_body("InvalidStateTransition", "State transition is not allowed"),
                )
            self.outcome = ("success" if kind == "response" else "error", body)
            self.outcome_at = time.monotonic()
            self.cond.notify_all()
        return _ACCEPTED

    def _post_init_error(self, body: bytes) -> Reply:
        with self.cond:
            if self.init_error is not None:
                return (
                    403,
                    JSON,
                    error_body("InvalidStateTransition", "State transition is not allowed"),
                )
            self.init_error = body
            self.cond.notify_all()
        return _ACCEPTED

    # Invoker side: the caller holds ``cond``.

    def offer(self, inv: Invocation) -> None:
        """Hand ``inv`` to the runtime waiting in ``invocation/next``."""
        self.offered, self.current, self.outcome = inv, None, None
        self.ready = False
        self.cond.notify_all()

    def close(self) -> None:
        """Release a blocked ``invocation/next``."""
        self.closed = True
        self.cond.notify_all()


class RuntimeAPIServer(Server):
    """The sandbox's private server on 127.0.0.1: Runtime API and Extensions API."""

    def __init__(self, runtime: RuntimeAPI, extensions: ExtensionsAPI) -> None:
        self.runtime = runtime
        self.extensions = extensions
        super().__init__(("127.0.0.1", 0), _RuntimeAPIHandler)


class _RuntimeAPIHandler(Handler):
    server: RuntimeAPIServer

    def _route(self, method: str) -> None:
        body = self.read_body() if method == "POST" else b""
        path = urlsplit(self.path).path
        api = self.server.extensions if path.startswith(EXTENSION_PREFIX) else self.server.runtime
        self.send(api.handle(method, path, self.headers, body))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")
