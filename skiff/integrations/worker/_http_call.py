"""Synchronous HTTP invocations held open in the background (Cloud Functions, Azure Functions).

An HTTP-triggered function answers only when the flow ends, but a dispatcher must return
as soon as the invocation is accepted (the worker records ``infrastructure_pid`` at once).
:class:`HttpCalls` sends each request from its own daemon thread and returns once the
request body is on the wire; an error the platform answers before running anything (no
such function, credentials refused: any 4xx) that arrives within ``accept_window``
seconds raises the dispatcher's typed error instead. The call's end is kept for
:meth:`HttpCalls.liveness`: while the request is open the invocation is alive; once it
has ended it is gone, and :meth:`HttpCalls.gone_message` says how.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from skiff.integrations.worker._dispatch import (
    Dispatcher,
    DispatchError,
    InvocationError,
    Liveness,
)

__all__ = ["HttpCalls", "HttpDispatcher"]

# Long enough for a 4xx from the platform's front end, short enough not to delay the pid.
ACCEPT_WINDOW = 0.5
# Finished calls are forgotten after this long (the worker observes runs well before).
KEEP_FINISHED = 600.0
# The trace event httpcore emits once the whole request is sent (HTTP/1.1 and HTTP/2).
_SENT = "send_request_body.complete"


class _Call:
    __slots__ = ("body_sent", "done", "ended", "error", "settled", "status", "text")

    def __init__(self) -> None:
        self.settled = threading.Event()  # the request is sent, or the call is over
        self.done = threading.Event()
        self.body_sent = False
        self.status: int | None = None
        self.text = ""
        self.error: Exception | None = None
        self.ended = 0.0

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name.endswith(_SENT):
            self.body_sent = True
            self.settled.set()


class HttpCalls:
    """The open HTTP invocations of one dispatcher, by infrastructure pid."""

    def __init__(self) -> None:
        """No connection is made until :meth:`start`."""
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                # Each call holds its connection for the flow's whole run: no pool cap.
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=10)
                self._client = httpx.Client(limits=limits, follow_redirects=False)
            return self._client

    def start(
        self,
        pid: str,
        request: httpx.Request,
        *,
        refused: Callable[[int, str], DispatchError | None],
        unreachable: Callable[[Exception], DispatchError],
        accept_window: float = ACCEPT_WINDOW,
    ) -> None:
        """Send ``request`` in the background; return once it is sent and not refused.

        ``request`` must come from :meth:`build`. ``refused(status, text)`` turns an early
        4xx answer into the error to raise (None: accept); ``unreachable(exc)`` does the
        same for a request that could not be sent.
        """
        call = _Call()
        request.extensions["trace"] = call.trace
        client = self._http()

        def run() -> None:
            try:
                response = client.send(request)
                call.status, call.text = response.status_code, response.text[:300]
            except httpx.HTTPError as exc:
                call.error = exc
            finally:
                call.ended = time.monotonic()
                call.done.set()
                call.settled.set()

        self._forget_old()
        with self._lock:
            self._calls[pid] = call
        threading.Thread(target=run, name=f"skiff-invoke {pid}", daemon=True).start()
        try:
            connect = request.extensions.get("timeout", {}).get("connect") or 30.0
            if not call.settled.wait(connect + 1.0):
                raise InvocationError(f"the request to {request.url} was not sent in {connect:g}s")
            if call.done.wait(accept_window):
                # A connection lost after the request went out is the function dying: the
                # invocation happened, and observe() reports it gone.
                if call.error is not None and not call.body_sent:
                    raise unreachable(call.error)
                if call.status is not None and 400 <= call.status < 500:
                    error = refused(call.status, call.text)
                    if error is not None:
                        raise error
        except DispatchError:
            self.forget(pid)
            raise

    def build(self, method: str, url: str, *, timeout: float, **kwargs: Any) -> httpx.Request:
        """A request for :meth:`start`: ``timeout`` bounds the whole call (the flow's run)."""
        timeouts = httpx.Timeout(timeout, connect=min(10.0, timeout))
        return self._http().build_request(method, url, timeout=timeouts, **kwargs)

    def liveness(self, pid: str) -> Liveness:
        """ALIVE while the request is open, GONE once it ended, UNKNOWN for a pid never started."""
        with self._lock:
            call = self._calls.get(pid)
        if call is None:
            return Liveness.UNKNOWN
        return Liveness.GONE if call.done.is_set() else Liveness.ALIVE

    def gone_message(self, pid: str) -> str:
        """Why the call is gone: how it ended (``HTTP 500: ...``, the connection error)."""
        with self._lock:
            call = self._calls.get(pid)
        if call is None or not call.done.is_set():
            ended = "its end was not seen (the worker restarted?)"
        elif call.error is not None:
            ended = f"the connection failed: {type(call.error).__name__}: {call.error}"
        else:
            ended = f"it answered HTTP {call.status}: {call.text.strip()[:200]!r}"
        return f"the function's HTTP call {pid} ended before the flow run reported a final state; {ended}"

    def forget(self, pid: str) -> None:
        """Drop what is known of ``pid`` (its thread, if any, runs on until the call ends)."""
        with self._lock:
            self._calls.pop(pid, None)

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - KEEP_FINISHED
        with self._lock:
            for pid in [p for p, c in self._calls.items() if c.done.is_set() and c.ended < cutoff]:
                del self._calls[pid]

    def close(self) -> None:
        """Close the connections (calls still open end with a connection error)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class HttpDispatcher(Dispatcher):
    """A dispatcher whose invocations are HTTP calls held open in :attr:`calls`."""

    def __init__(self) -> None:
        """No connection is made until the first call."""
        self.calls = HttpCalls()

    def observe(self, infrastructure_pid: str, config: Mapping[str, Any]) -> Liveness:
        """ALIVE while the HTTP call is open, GONE once it ended, UNKNOWN if it is not one."""
        return self.calls.liveness(infrastructure_pid)

    def gone_message(self, infrastructure_pid: str) -> str:
        """How the call ended, for the Crashed state of a run it left unfinished."""
        return self.calls.gone_message(infrastructure_pid)

    def close(self) -> None:
        """Close the connections; calls still open end."""
        self.calls.close()
