"""An internal Lambda extension: respond first, report after.

Lambda returns the handler's response to the caller as soon as the runtime posts it,
and freezes the sandbox only once the runtime *and every registered extension* have
called ``next``. skiff registers an internal extension (a thread in the runtime process)
through the Extensions API during init, so an invocation's reports drain *after* its
response, and the extension calls ``next`` only when they are on the server (or the
invocation's deadline is near, when what is left goes to the spool). The caller never
waits for reporting; the time after the response is billed, as AWS documents.

Protocol (AWS Extensions API at ``AWS_LAMBDA_RUNTIME_API``)::

    POST /2020-01-01/extension/register   Lambda-Extension-Name: skiff
         {"events": ["INVOKE"]}           -> Lambda-Extension-Identifier: <id>
    GET  /2020-01-01/extension/event/next Lambda-Extension-Identifier: <id>
         -> {"eventType": "INVOKE", "requestId": ..., "deadlineMs": ...}

Registration is allowed only during init (before the runtime's first ``next``); an
internal extension cannot take SHUTDOWN. When registration fails (not on Lambda, no
Extensions API, too late, or ``SKIFF_LAMBDA_EXTENSION=false``) the adapter flushes
before returning, as without an extension; the first invocation's log says which mode.
"""

from __future__ import annotations

import collections
import http.client
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "Extension",
    "active",
    "cold_start",
    "init_type",
    "on_sigterm",
    "register",
    "setup",
    "why_not",
]

logger = logging.getLogger("skiff")

NAME = "skiff"
ENV_SWITCH = "SKIFF_LAMBDA_EXTENSION"
# The drain stops this long before the invocation's deadline, so ``next`` comes in time.
DEADLINE_MARGIN = 0.2
REGISTER_TIMEOUT = 2.0
# With only internal extensions, Lambda gives the runtime 500 ms after SIGTERM.
SHUTDOWN_FLUSH = 0.4


def _entry_is_skiff() -> bool:
    # Whether the function's handler (``_HANDLER``, "path/module.attr") is a lambda_flow
    # wrapper: only then does every invocation hand its reports over. Another entry point
    # (a router that calls a lambda_flow now and then) must not be held to its deadline.
    import sys

    from skiff._engine import Flow

    spec = os.environ.get("_HANDLER", "")
    module_name, _, attr = spec.rpartition(".")
    module = sys.modules.get(module_name.replace("/", "."))
    handler = getattr(module, attr, None) if module is not None else None
    return isinstance(getattr(handler, "flow", None), Flow)


class _Drain:
    """One invocation's hand-off: the adapter's flush, run by the extension thread."""

    __slots__ = ("done", "settle")

    def __init__(self, settle: Callable[[], None]) -> None:
        self.settle = settle
        self.done = threading.Event()


class Extension:
    """The registered extension: one thread looping on ``event/next``."""

    def __init__(self, api: str, identifier: str) -> None:
        self.api = api
        self.identifier = identifier
        self._lock = threading.Lock()
        self._handed: dict[str, _Drain] = {}
        self._arrived = threading.Condition(self._lock)
        self._current: str | None = None
        self._deadline_ms: float | None = None
        self.invocations = 0
        self._drained: collections.deque[str] = collections.deque(maxlen=16)
        self._conn: http.client.HTTPConnection | None = None
        self._entry: bool | None = None  # is _HANDLER a lambda_flow? (known at the first INVOKE)
        self.thread = threading.Thread(target=self._loop, name="skiff-extension", daemon=True)

    def start(self) -> None:
        """Start the loop (called once, right after registration)."""
        self.thread.start()

    def hand_off(self, request_id: str | None, settle: Callable[[], None]) -> bool:
        """Give this invocation's flush to the extension; False if it cannot take it.

        The adapter returns right after a True answer, so its response goes out first.
        """
        if request_id is None or not self.thread.is_alive() or not self._waits_for_hand_off():
            return False
        with self._arrived:
            if request_id in self._handed or request_id in self._drained:
                # A second lambda_flow call in one invocation: flushed in-line, since the
                # extension may have called next already.
                return False
            self._handed[request_id] = _Drain(settle)
            self._arrived.notify_all()
        return True

    def _waits_for_hand_off(self) -> bool:
        if self._entry is None:
            self._entry = _entry_is_skiff()
        return self._entry

    def _loop(self) -> None:
        while True:
            try:
                event = self._next()
            except Exception as exc:  # the API went away: the adapter falls back to flushing
                logger.warning("skiff's Lambda extension stopped: %s", exc)
                return
            if event.get("eventType") != "INVOKE":
                return
            self.invocations += 1
            self._drain(str(event.get("requestId")), float(event.get("deadlineMs") or 0))

    def _drain(self, request_id: str, deadline_ms: float) -> None:
        # Wait for the handler to hand its reports over, then flush them before ``next``.
        if not self._waits_for_hand_off():
            return  # not a lambda_flow entry point: its reports are flushed in-line
        limit = deadline_ms / 1000 - DEADLINE_MARGIN if deadline_ms else None
        with self._arrived:
            while request_id not in self._handed:
                left = None if limit is None else limit - time.time()
                if left is not None and left <= 0:
                    return  # the handler never handed over (killed, or not a skiff flow)
                self._arrived.wait(left)
            drain = self._handed.pop(request_id)
            self._drained.append(request_id)
        try:
            drain.settle()
        except Exception as exc:
            logger.warning("skiff could not drain the reports of %s: %s", request_id, exc)
        finally:
            drain.done.set()

    def _next(self) -> dict[str, Any]:
        # One kept-alive connection (a new one per event cost every invocation a connect);
        # a connection the API closed is opened again, once.
        try:
            return self._request_next()
        except (ConnectionError, http.client.HTTPException):
            self._drop_connection()
            return self._request_next()

    def _request_next(self) -> dict[str, Any]:
        if self._conn is None:
            host, _, port = self.api.partition(":")
            self._conn = http.client.HTTPConnection(host, int(port or 80))  # it long-polls
        self._conn.request(
            "GET",
            "/2020-01-01/extension/event/next",
            headers={"Lambda-Extension-Identifier": self.identifier},
        )
        reply = self._conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"event/next answered {reply.status}: {body[:200]!r}")
        event: dict[str, Any] = json.loads(body or b"{}")
        return event

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_extension: Extension | None = None
_tried = False
_why_not = "not registered yet"
_register_lock = threading.Lock()


def register() -> Extension | None:
    """Register the extension once per process, during init; None when it cannot be.

    Never raises: any failure means the adapter keeps flushing before it returns.
    """
    global _extension, _tried, _why_not
    with _register_lock:
        if _tried:
            return _extension
        _tried = True
        api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
        if not api:
            _why_not = "not on Lambda: AWS_LAMBDA_RUNTIME_API is not set"
            return None
        if os.environ.get(ENV_SWITCH, "true").strip().lower() in ("0", "false", "no", "off"):
            _why_not = f"{ENV_SWITCH}=false"
            return None
        try:
            identifier = _register(api)
        except Exception as exc:
            _why_not = f"registration failed: {exc}"
            return None
        _extension = Extension(api, identifier)
        _extension.start()
        return _extension


def _register(api: str) -> str:
    host, _, port = api.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=REGISTER_TIMEOUT)
    try:
        conn.request(
            "POST",
            "/2020-01-01/extension/register",
            body=json.dumps({"events": ["INVOKE"]}),
            headers={"Lambda-Extension-Name": NAME, "Content-Type": "application/json"},
        )
        reply = conn.getresponse()
        body = reply.read()
        identifier = reply.getheader("Lambda-Extension-Identifier")
        if reply.status != 200 or not identifier:
            raise RuntimeError(f"register answered {reply.status}: {body[:200]!r}")
        return identifier
    finally:
        conn.close()


def active() -> Extension | None:
    """The registered extension, if any (without trying to register)."""
    return _extension


def why_not() -> str:
    """Why no extension is registered (for the cold start's log line)."""
    return _why_not


def setup() -> None:
    """At decoration (the sandbox's init): register, and flush on Lambda's SIGTERM."""
    if _tried:
        return
    register()
    if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        from skiff._engine._flows import flush_before_freeze

        on_sigterm(flush_before_freeze)
        _on_snapstart_restore()


def _on_snapstart_restore() -> None:
    # Lambda's SnapStart runtime hooks (Python 3.12+); absent elsewhere.
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(after_restore)


def after_restore() -> None:
    """After a SnapStart restore: fresh connections and seeds, a new cold start."""
    import random

    from skiff._engine import _reporter
    from skiff.adapters import aws_lambda

    random.seed()  # the snapshot copied the generator's state to every restored sandbox
    for reporter in _reporter.all_reporters():
        reporter.reset_connections()
    aws_lambda.after_restore()


def init_type() -> str:
    """``on-demand``, ``provisioned-concurrency`` or ``snap-start`` (Lambda's own variable)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")


def cold_start(first_in_process: bool) -> bool:
    """Whether this invocation is a cold start as AWS defines it.

    Provisioned concurrency initializes environments ahead of any request, so none of
    their invocations is a cold start; otherwise (on demand, or the first invocation
    after a SnapStart restore) the first one is.
    """
    return first_in_process and init_type() != "provisioned-concurrency"


def on_sigterm(flush: Callable[[float], Any]) -> bool:
    """On SIGTERM (Lambda's shutdown), flush what is buffered, then let the process end.

    Only from the main thread, where signal handlers can be set; a handler set before is
    called afterwards. True when installed.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: Any) -> None:
        try:
            flush(SHUTDOWN_FLUSH)
        finally:
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(0)

    signal.signal(signal.SIGTERM, handle)
    return True
