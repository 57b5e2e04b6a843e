"""A stand-in for the Cloud Functions v2 admin API on 127.0.0.1 (no emulator exists for it).

It answers what ``google.cloud.functions_v2.FunctionServiceClient(transport="rest",
client_options={"api_endpoint": admin.url})`` sends for ``get_function``::

    GET /v2/projects/{project}/locations/{location}/functions/{function}

with a ``Function`` resource in the API's JSON form (``name``, ``state``, ``environment``,
``url``, ``serviceConfig.uri``, and ``eventTrigger`` for CloudEvent functions), and errors
in Google's JSON error form, which ``google.api_core`` turns into typed exceptions:

* 404 ``NOT_FOUND`` for an unknown function of a project it knows;
* 403 ``PERMISSION_DENIED`` for a project it does not know (the real API's answer when the
  caller may not read the project, or the resource may not exist);
* 401 ``UNAUTHENTICATED`` when ``token`` is set and the request lacks ``Bearer <token>``.

Usage::

    with CloudFunctionsAdmin() as admin:
        name = admin.add("proj", "europe-west1", "hello", "http://127.0.0.1:4341")
        admin.requests   # the paths served, in order
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/functions/([^/?]+)$")


class CloudFunctionsAdmin:
    """The stand-in server: ``add`` functions, read ``url``; a context manager that closes it."""

    def __init__(self, port: int = 0, token: str | None = None) -> None:
        self.token = token
        self.functions: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(
        self, project: str, location: str, function: str, uri: str, *, event_type: str = ""
    ) -> str:
        """Deploy ``function`` served at ``uri``; ``event_type`` makes it a CloudEvent function."""
        name = f"projects/{project}/locations/{location}/functions/{function}"
        resource: dict[str, Any] = {
            "name": name,
            "state": "ACTIVE",
            "environment": "GEN_2",
            "url": uri,
            "buildConfig": {"runtime": "python311", "entryPoint": function},
            "serviceConfig": {
                "uri": uri,
                "service": f"projects/{project}/locations/{location}/services/{function}",
                "timeoutSeconds": 60,
            },
        }
        if event_type:
            resource["eventTrigger"] = {"eventType": event_type, "triggerRegion": location}
        self.functions[name] = resource
        return name

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one GET."""
        self.requests.append(path)
        if self.token is not None and authorization != f"Bearer {self.token}":
            return _error(
                HTTPStatus.UNAUTHORIZED, "UNAUTHENTICATED", "Request had invalid credentials."
            )
        match = _PATH.match(path.split("?", 1)[0])
        if match is None:
            return _error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no such method: {path}")
        name = path.split("?", 1)[0].removeprefix("/v2/")
        if name in self.functions:
            return HTTPStatus.OK, self.functions[name]
        if not any(known.startswith(f"projects/{match[1]}/") for known in self.functions):
            message = f"Permission 'cloudfunctions.functions.get' denied on '{name}'"
            return _error(HTTPStatus.FORBIDDEN, "PERMISSION_DENIED", message)
        return _error(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"Resource '{name}' was not found")

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CloudFunctionsAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(status: HTTPStatus, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": int(status), "message": message, "status": code}}


def _handler(admin: CloudFunctionsAdmin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, body = admin.answer(self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read admin.requests instead

    return Handler
