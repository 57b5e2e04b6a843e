"""The HTTP plumbing shared by the emulator's servers (Runtime API and Invoke API)."""

from __future__ import annotations

import json
import socketserver
import sys
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JSON", "Handler", "Reply", "Server", "decode", "error_body", "json_reply"]

JSON = {"Content-Type": "application/json"}
"""Headers of a JSON reply."""

Reply = tuple[int, Mapping[str, str], bytes]
"""An HTTP answer: status, headers, body."""


def error_body(error_type: str, message: str) -> bytes:
    """The Runtime API's error document."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def json_reply(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON reply with extra ``headers``."""
    return status, {**JSON, **(headers or {})}, json.dumps(document).encode()


def decode(raw: bytes) -> Any:
    """JSON from ``raw``, or its text when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class Server(ThreadingHTTPServer):
    """A threading server with fast shutdown, no DNS look-up and quiet disconnects."""

    daemon_threads = True

    def serve(self) -> None:
        """Serve until :meth:`shutdown`."""
        # shutdown() waits for the loop's next poll; the default 0.5 s would slow every reset.
        self.serve_forever(poll_interval=0.02)

    def server_bind(self) -> None:
        """Bind without HTTPServer's FQDN look-up, which can stall on DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that vanish mid-request (a killed runtime is routine here)."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler with body reading and one-call replies."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle plus delayed ACK would add 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the emulator's output belongs to the functions."""

    def read_body(self) -> bytes:
        """The request body (empty without Content-Length)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, reply: Reply | None) -> None:
        """Send ``reply``; None drops the connection (the sandbox is being torn down)."""
        if reply is None:
            self.close_connection = True
            return
        status, headers, body = reply
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
