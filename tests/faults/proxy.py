"""A fault-injecting HTTP proxy on 127.0.0.1, in front of a real Prefect server.

Faults are rules, matched in order against each request's method and path; the first live
rule that matches decides. A rule fires ``times`` times (None: forever) with probability
``probability``, and does one of:

* ``"503"``: answer 503 (with ``Retry-After``) without forwarding;
* ``"reset_before"``: reset the connection (RST) without forwarding: the server never saw it;
* ``"reset_after"``: forward, let the server answer, then reset instead of replying: the
  request was processed but the client never learns it;
* ``"delay"``: wait ``seconds`` and then forward (latency); with ``in_transit=True`` a
  request whose client went away during the wait is not forwarded, as a request still on
  the wire when its process is killed never arrives;
* ``"pass"``: forward unchanged (to carve out an exception before a broader rule).

``refuse()`` closes the listening socket so connections are refused outright, and
``accept()`` opens it again on the same port.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import random
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["FaultProxy", "Rule"]

_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "content-encoding", "host")


@dataclass
class Rule:
    """One fault: which requests it matches and what it does to them."""

    action: str
    path: str = ""
    method: str | None = None
    times: int | None = None
    probability: float = 1.0
    seconds: float = 0.0
    retry_after: str = "0"
    in_transit: bool = False
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ("503", "reset_before", "reset_after", "delay", "pass"):
            raise ValueError(f"unknown fault action {self.action!r}")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        if not self._pattern.search(path):
            return False
        return self.probability >= 1.0 or rng.random() < self.probability


class FaultProxy:
    """The proxy; ``api_url`` is what clients use instead of the server's."""

    def __init__(self, upstream_api_url: str, *, seed: int = 0) -> None:
        self.rules: list[Rule] = []
        self.rng = random.Random(seed)
        self.forwarded: list[tuple[str, str, int]] = []
        self.faults: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=upstream_api_url.removesuffix("/api"), timeout=120)
        self._port = 0
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self.accept()
        self.api_url = f"http://127.0.0.1:{self._port}/api"

    # ------------------------------------------------------------------ control
    def add(self, action: str, path: str = "", **kwargs: Any) -> Rule:
        """Append a rule and return it (its ``fired`` counts how often it acted)."""
        rule = Rule(action, path, **kwargs)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule: pass everything through."""
        with self._lock:
            self.rules.clear()

    def refuse(self) -> None:
        """Stop listening and cut open connections: all is refused until :meth:`accept`."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            for connection in list(httpd.connections):
                with contextlib.suppress(OSError):
                    # close() waits for the handler's file objects; shutdown() acts now.
                    connection.shutdown(socket.SHUT_RDWR)

    def accept(self) -> None:
        """Listen again (on the same port once one was chosen)."""
        if self._httpd is not None:
            return
        httpd = _Server(("127.0.0.1", self._port), _handler_for(self))
        httpd.daemon_threads = True
        self._port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True, name="fault-proxy").start()

    def close(self) -> None:
        """Stop the proxy."""
        self.refuse()
        self._upstream.close()

    def count(self, method: str, path_regex: str) -> int:
        """How many forwarded requests matched (the server saw them)."""
        pattern = re.compile(path_regex)
        return sum(1 for m, p, _ in self.forwarded if m == method and pattern.search(p))

    # ------------------------------------------------------------------ per request
    def _decide(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, self.rng):
                    rule.fired += 1
                    self.faults[rule.action] += 1
                    return rule
        return None

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        reply = self._upstream.request(method, path, content=body, headers=headers)
        with self._lock:
            self.forwarded.append((method, path, reply.status_code))
        return reply


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Keep-alive connections outlive the listening socket; refuse() cuts them too.
        self.connections: set[socket.socket] = set()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.discard(request)


def _gone(connection: socket.socket) -> bool:
    """Whether the client closed its side (a peek reads end-of-file or a reset)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _reset(connection: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _handler_for(proxy: FaultProxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rule = proxy._decide(self.command, self.path)
            action = rule.action if rule else "pass"
            if action == "reset_before":
                self.close_connection = True
                _reset(self.connection)
                return
            if action == "503":
                self.send_response(503)
                self.send_header("Retry-After", rule.retry_after if rule else "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if action == "delay" and rule is not None:
                time.sleep(rule.seconds)
                if rule.in_transit and _gone(self.connection):
                    self.close_connection = True
                    return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            try:
                reply = proxy._forward(self.command, self.path, headers, body)
            except httpx.HTTPError:
                self.close_connection = True
                _reset(self.connection)
                return
            if action == "reset_after":
                self.close_connection = True
                _reset(self.connection)
                return
            self.send_response(reply.status_code)
            for key, value in reply.headers.items():
                if key.lower() not in _HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up waiting: its loss
                self.wfile.write(reply.content)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    return Handler
