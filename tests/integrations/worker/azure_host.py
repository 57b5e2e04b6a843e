"""What the Azure Functions host does for a v2 ``FunctionApp``, on 127.0.0.1, for tests.

The Core Tools host cannot be installed here (it downloads a binary from outside the
registries), so this stands in for the host's two jobs the worker depends on; the
functions themselves run unchanged, fed by the real ``azure.functions`` converters
(:func:`scripts.demo_functions.invoke_azure`):

* :class:`HttpHost` serves every HTTP-triggered function at ``/api/<route>``, checks the
  function key (``x-functions-key`` header or ``code`` query parameter) for functions
  whose auth level is not anonymous, as the host does (401 otherwise), and turns the
  function's ``HttpResponse`` (or exception: 500) into the HTTP answer;
* :func:`pump_queue` reads a storage queue with azure-storage-queue, decodes each message
  from base64 (the host's default ``messageEncoding``), invokes the queue-triggered
  function and deletes the message once it returned, as the host's queue listener does.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scripts.demo_functions import (
    app_functions,
    azure_context,
    http_datum,
    invoke_azure,
    queue_datum,
)


class HttpHost:
    """The app's HTTP triggers on ``url``; ``keys`` maps function names to their key."""

    def __init__(self, app: Any, keys: dict[str, str], port: int = 0) -> None:
        self.app = app
        self.keys = keys
        self.routes: list[tuple[re.Pattern[str], str, bool]] = []
        for name, function in app_functions(app).items():
            trigger = function.get_trigger()
            if trigger.type != "httpTrigger":
                continue
            template = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", trigger.route or name)
            anonymous = str(trigger.auth_level).upper().endswith("ANONYMOUS")
            self.routes.append((re.compile(f"^/api/{template}$"), name, anonymous))
        self.invocations: list[str] = []  # the function names invoked, in order
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """Route, check the key, invoke: the status, body and headers to send."""
        parts = urlsplit(path)
        for pattern, name, anonymous in self.routes:
            match = pattern.match(parts.path)
            if match is None:
                continue
            given = headers.get("x-functions-key") or dict(parse_qsl(parts.query)).get("code")
            if not anonymous and (given is None or given != self.keys.get(name)):
                return 401, b"", {}
            self.invocations.append(name)
            datum = http_datum(
                method,
                f"{self.url}{path}",
                body=body,
                headers=headers,
                route_params=match.groupdict(),
            )
            try:
                result = invoke_azure(self.app, name, datum, context=azure_context(name))
            except Exception as exc:  # the host answers 500 for a function that raised
                return 500, f"{type(exc).__name__}: {exc}".encode(), {}
            if hasattr(result, "get_body"):
                return result.status_code, result.get_body(), dict(result.headers)
            return 200, str(result).encode() if result is not None else b"", {}
        return 404, b"", {}

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _handler(host: HttpHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, extra = host.answer(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in extra.items():
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def pump_queue(
    queue: Any, app: Any, function_name: str, stop: threading.Event, poll: float = 0.05
) -> list[str]:
    """Feed ``queue``'s messages to ``function_name`` until ``stop``; the message ids handled.

    ``queue`` is an ``azure.storage.queue.QueueClient`` built with
    ``message_decode_policy=TextBase64DecodePolicy()``, as the host decodes messages.
    """
    handled: list[str] = []
    while not stop.is_set():
        for message in queue.receive_messages(messages_per_page=8, visibility_timeout=60):
            body, metadata = queue_datum(message.content, message.id, message.dequeue_count)
            invoke_azure(
                app,
                function_name,
                body,
                trigger_metadata=metadata,
                context=azure_context(function_name),
            )
            queue.delete_message(message)
            handled.append(str(message.id))
        stop.wait(poll)
    return handled
