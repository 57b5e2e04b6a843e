"""The Lambda Extensions API (``/2020-01-01/extension``), served beside the Runtime API.

As AWS documents it, and with the status codes and error types of AWS's own runtime
interface emulator:

- ``POST /register`` with ``Lambda-Extension-Name`` and ``{"events": [...]}`` answers 200
  with ``Lambda-Extension-Identifier`` and the function's name, version and handler. It is
  open only during init, until the runtime's first ``invocation/next``; afterwards it
  answers 403 ``Extension.RegistrationClosed``. An extension whose name is the file name of
  one of the function's external extensions is external; any other is internal (a thread
  in the runtime process) and may not take ``SHUTDOWN`` (403 ``Extension.InvalidEventType``).
- ``GET /event/next`` blocks until the extension's next event: ``INVOKE`` for extensions
  registered for it, at each hand-off, and ``SHUTDOWN`` for external ones registered for
  it. Calling it again is how an extension says it is done with the previous event.
- ``POST /init/error`` (during init) and ``POST /exit/error`` take
  ``Lambda-Extension-Function-Error-Type`` and answer 202; the sandbox then fails with
  ``Extension.InitError`` or ``Extension.ExitError`` and the extension's later calls get 403.

Every other refusal is a 403 with ``{"errorType", "errorMessage"}``, as on AWS.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from ._http import Reply, decode, error_body, json_reply

__all__ = [
    "EXTENSION_PREFIX",
    "ExtensionError",
    "ExtensionsAPI",
    "RegisteredExtension",
]

EXTENSION_PREFIX = "/2020-01-01/extension"
"""Path prefix of the Extensions API."""

NAME_HEADER = "Lambda-Extension-Name"
ID_HEADER = "Lambda-Extension-Identifier"
ERROR_TYPE_HEADER = "Lambda-Extension-Function-Error-Type"
# AWS's limit on extensions per function, enforced by register.
MAX_EXTENSIONS = 10
# States as AWS's emulator names them; the last three are final.
REGISTERED, READY, RUNNING = "Registered", "Ready", "Running"
INIT_ERROR, EXIT_ERROR, EXITED = "InitError", "ExitError", "Exited"
_FINAL = (INIT_ERROR, EXIT_ERROR, EXITED)


@dataclass(frozen=True)
class RegisteredExtension:
    """An extension as registered: its name, identifier, events and kind."""

    name: str
    identifier: str
    events: tuple[str, ...]
    external: bool


@dataclass(frozen=True)
class ExtensionError:
    """An error an extension reported: ``kind`` is ``"init"`` or ``"exit"``.

    ``error_type`` is the ``Lambda-Extension-Function-Error-Type`` header and ``body`` the
    decoded request body (AWS's ErrorRequest: errorType, errorMessage, stackTrace).
    """

    extension: str
    kind: str
    error_type: str
    body: Any


@dataclass
class _Extension:
    info: RegisteredExtension
    state: str = REGISTERED
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    next_at: float = 0.0  # monotonic time of its latest event/next


def _forbidden(error_type: str, message: str) -> Reply:
    return 403, {"Content-Type": "application/json"}, error_body(error_type, message)


def _transition(ext: _Extension, target: str) -> Reply:
    return _forbidden(
        "Extension.InvalidExtensionState",
        f"State transition from {ext.state} to {target} failed for extension "
        f"{ext.info.identifier}. Error: State transition is not allowed",
    )


class ExtensionsAPI:
    """One sandbox's extensions: registration, event queues and reported errors.

    Shares the sandbox's condition ``cond``; methods named for the invoker side expect the
    caller to hold it.
    """

    def __init__(
        self,
        cond: threading.Condition,
        metadata: dict[str, str],
        external_names: Collection[str],
        errors: list[ExtensionError],
    ) -> None:
        self.cond = cond
        self._metadata = metadata
        self._external_names = frozenset(external_names)
        self._errors = errors
        self._by_id: dict[str, _Extension] = {}
        self._exited: set[str] = set()  # external names whose process ended
        self.registration_open = True
        self.in_init = True
        self.shutting_down = False
        self.closed = False
        self.failure: tuple[str, str] | None = None
        """(errorType, errorMessage) of the first fatal extension failure."""

    # HTTP side, called from the Runtime API server's threads.

    def handle(self, method: str, path: str, headers: Message, body: bytes) -> Reply | None:
        """Serve one Extensions API request; None drops the connection."""
        route = path[len(EXTENSION_PREFIX) :]
        if (method, route) == ("POST", "/register"):
            return self._register(headers.get(NAME_HEADER) or "", body)
        if (method, route) not in (
            ("GET", "/event/next"),
            ("POST", "/init/error"),
            ("POST", "/exit/error"),
        ):
            return 404, {"Content-Type": "application/json"}, error_body("NotFound", path)
        identifier = headers.get(ID_HEADER)
        if not identifier:
            return _forbidden("Extension.MissingExtensionIdentifier", f"Missing {ID_HEADER} header")
        try:
            identifier = str(uuid.UUID(identifier))
        except ValueError:
            return _forbidden("Extension.InvalidExtensionIdentifier", f"Invalid {ID_HEADER}")
        if route == "/event/next":
            return self._next(identifier)
        error_type = headers.get(ERROR_TYPE_HEADER)
        if not error_type:
            return _forbidden("Extension.MissingHeader", f"{ERROR_TYPE_HEADER} not found")
        return self._report(identifier, route.split("/")[1], error_type, body)

    def _register(self, name: str, body: bytes) -> Reply:
        if not name:
            return _forbidden("Extension.InvalidExtensionName", "Empty extension name")
        try:
            request = json.loads(body)
            events = request.get("events") or []
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise ValueError("events must be an array of strings")
        except (ValueError, AttributeError) as exc:
            return _forbidden("InvalidRequestFormat", str(exc))
        external = name in self._external_names
        allowed = ("INVOKE", "SHUTDOWN") if external else ("INVOKE",)
        for event in events:
            if event not in allowed:
                why = (
                    "ShutdownEventNotSupportedForInternalExtension"
                    if event == "SHUTDOWN"
                    else "ErrorInvalidEventType"
                )
                return _forbidden("Extension.InvalidEventType", f"{event}: {why}")
        with self.cond:
            if not self.registration_open or self.closed:
                return _forbidden(
                    "Extension.RegistrationClosed", "Extension registration closed already"
                )
            if any(e.info.name == name for e in self._by_id.values()):
                return _forbidden(
                    "Extension.InvalidExtensionState", "Extension with this name already registered"
                )
            if len(self._by_id) >= MAX_EXTENSIONS:
                return _forbidden(
                    "Extension.TooManyExtensions", f"Extension limit ({MAX_EXTENSIONS}) reached"
                )
            identifier = str(uuid.uuid4())
            info = RegisteredExtension(name, identifier, tuple(dict.fromkeys(events)), external)
            self._by_id[identifier] = _Extension(info)
            self.cond.notify_all()
        return json_reply(200, self._metadata, {ID_HEADER: identifier})

    def _next(self, identifier: str) -> Reply | None:
        with self.cond:
            ext = self._by_id.get(identifier)
            if ext is None:
                return _forbidden(
                    "Extension.UnknownExtensionIdentifier", f"Unknown extension {identifier}"
                )
            if ext.state not in (REGISTERED, RUNNING):
                return _transition(ext, READY)
            ext.state, ext.next_at = READY, time.monotonic()
            self.cond.notify_all()
            while not ext.pending and not self.closed and ext.state == READY:
                self.cond.wait()
            if not ext.pending:
                return None  # torn down: the extension is about to be killed
            event = ext.pending.popleft()
            ext.state = RUNNING
            self.cond.notify_all()
        return json_reply(200, event, {ID_HEADER: identifier})

    def _report(self, identifier: str, kind: str, error_type: str, body: bytes) -> Reply:
        with self.cond:
            ext = self._by_id.get(identifier)
            if ext is None:
                return _forbidden("Extension.UnknownExtensionIdentifier", f"Unknown {ID_HEADER}")
            target = INIT_ERROR if kind == "init" else EXIT_ERROR
            if ext.state in _FINAL or (kind == "init" and not self.in_init):
                return _transition(ext, target)
            ext.state = target
            self._errors.append(ExtensionError(ext.info.name, kind, error_type, decode(body)))
            fatal = "Extension.InitError" if kind == "init" else "Extension.ExitError"
            self._fail(fatal, f"Extension {ext.info.name} reported {error_type}")
            self.cond.notify_all()
        return json_reply(202, {"status": "OK"}, {ID_HEADER: identifier})

    def _fail(self, error_type: str, message: str) -> None:
        if self.failure is None and not self.shutting_down:
            self.failure = (error_type, message)

    # Sandbox side: the caller holds ``cond``.

    def registered(self) -> list[RegisteredExtension]:
        """Every extension registered so far, in registration order."""
        return [e.info for e in self._by_id.values()]

    def externals_registered(self) -> bool:
        """Whether every external extension has registered (or ended)."""
        names = {e.info.name for e in self._by_id.values()}
        return all(n in names or n in self._exited for n in self._external_names)

    def has(self, *, external: bool) -> bool:
        """Whether an external (or internal) extension is registered."""
        return any(e.info.external is external for e in self._by_id.values())

    def process_exited(self, name: str, how: str) -> None:
        """An external extension's process ended; outside shutdown that is a crash."""
        self._exited.add(name)
        for ext in self._by_id.values():
            if ext.info.name == name:
                if ext.state in (INIT_ERROR, EXIT_ERROR):
                    break  # it already said why
                ext.state = EXITED
                self._fail("Extension.Crash", f"Extension {name} exited: {how}")
                break
        else:
            self._fail("Extension.Crash", f"Extension {name} exited before registering: {how}")
        self.cond.notify_all()

    def all_waiting(self) -> bool:
        """Whether every live extension is blocked in ``event/next`` with nothing queued."""
        return all(
            e.state == READY and not e.pending
            for e in self._by_id.values()
            if e.state not in _FINAL
        )

    def last_next_at(self) -> float:
        """Monotonic time of the latest ``event/next`` of a live extension (0 without)."""
        return max((e.next_at for e in self._by_id.values() if e.state not in _FINAL), default=0)

    def dispatch_invoke(self, event: dict[str, Any]) -> None:
        """Queue an INVOKE event for every live extension registered for it."""
        for ext in self._by_id.values():
            if "INVOKE" in ext.info.events and ext.state not in _FINAL:
                ext.pending.append(event)
        self.cond.notify_all()

    def dispatch_shutdown(self, reason: str, deadline_ms: int) -> list[str]:
        """Queue SHUTDOWN for the live external extensions registered for it; their ids."""
        event = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        targets = []
        for ext in self._by_id.values():
            if "SHUTDOWN" in ext.info.events and ext.state not in _FINAL:
                ext.pending.append(event)
                targets.append(ext.info.identifier)
        self.cond.notify_all()
        return targets

    def done_with(self, identifiers: list[str]) -> bool:
        """Whether each of these extensions has called ``event/next`` again or ended."""
        return all(
            (ext := self._by_id[i]).state in _FINAL or (ext.state == READY and not ext.pending)
            for i in identifiers
        )

    def close(self) -> None:
        """Release every blocked ``event/next`` and refuse further registrations."""
        self.closed = True
        self.cond.notify_all()
