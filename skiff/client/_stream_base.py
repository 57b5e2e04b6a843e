"""Subscription logic without I/O, shared by the async source and the generated sync code.

The server's side of the protocol (``prefect/server/api/events.py``, ``logs.py`` and
``server/utilities/subscriptions.py`` of Prefect 3.9.1):

1. the client connects to ``/api/events/out`` or ``/api/logs/out`` offering the ``prefect``
   subprotocol, and first sends ``{"type": "auth", "token": ...}``; the token is the API key
   (Prefect Cloud) or the raw ``PREFECT_API_AUTH_STRING``. The server answers
   ``{"type": "auth_success"}`` or closes with 1008;
2. then ``{"type": "filter", "filter": ..., "backfill": true}``. A bad filter closes with 1002
   and ``Invalid filter: ...``. Events matching the filter's ``occurred`` window are replayed
   from the database (at most 15 minutes back), then the live stream follows;
3. logs have no backfill: only live messages ``{"type": "log", "log": ...}``.

The live stream carries only what is published while the socket is subscribed, and the
database sees an event only when the event persister flushes (every 5 s or 20 events), so a
reconnect alone can miss events published while disconnected. The subscriptions therefore
also sweep the REST API for the gap once the persister has had time to write it.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from skiff._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    MissingExtraError,
    RateLimitError,
    SkiffError,
    ValidationError,
    error_class_for_status,
)
from skiff.client import _constants as c
from skiff.client._base import build_headers
from skiff.client._generated import models
from skiff.client._redact import redact_text

if TYPE_CHECKING:
    from skiff.client._settings import Settings

__all__ = [
    "StreamEvent",
    "SeenWindow",
    "auth_message",
    "filter_payload",
    "is_retryable",
    "socket_error",
    "socket_url",
]

EVENTS_OUT = "/events/out"
LOGS_OUT = "/logs/out"
# What a consumer may leave unread before the socket is closed (and resumed later).
DEFAULT_MAX_BUFFERED = 10_000
# How many event ids are remembered to drop replays; must exceed the events in a resume window.
DEFAULT_DEDUPE_WINDOW = 50_000
# How far before the last event seen a resume starts: events arrive out of order by about
# the emitters' batching and clock skew.
RESUME_MARGIN = _dt.timedelta(seconds=15)
# The server persists events every 5 s (PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL);
# the sweep for a reconnect's gap waits that long plus slack.
DEFAULT_SWEEP_DELAY = 7.0
# The sweep also covers this long after the reconnect: the server drops live events for a
# subscriber whose queue (256) fills while its backfill is being sent.
SWEEP_AHEAD = _dt.timedelta(seconds=2)
# A socket message larger than this is refused (websockets' default of 1 MiB is small for
# events with big payloads).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Far enough ahead that the live stream is never filtered out by a default ``until``
# (the server defaults it to the moment it read the filter).
_FOREVER = _dt.timedelta(days=365)


class StreamEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An event as the server streams it: ``resource`` and ``related`` keep every label."""

    id: uuid.UUID
    event: str
    occurred: _dt.datetime
    resource: dict[str, str]
    related: list[dict[str, str]] = msgspec.field(default_factory=list)
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    received: _dt.datetime | None = None
    follows: uuid.UUID | None = None


class SeenWindow:
    """The last ``size`` ids delivered, to drop the replays a resume brings (bounded memory)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[uuid.UUID, None] = OrderedDict()

    def __contains__(self, item: uuid.UUID) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item: uuid.UUID) -> None:
        """Remember ``item``, forgetting the oldest id beyond ``size``."""
        self._ids[item] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)


def now() -> _dt.datetime:
    """The current time, timezone-aware UTC."""
    return _dt.datetime.now(_dt.timezone.utc)


def socket_url(api_url: str, path: str) -> str:
    """The ``ws://``/``wss://`` URL of a socket route under the API URL."""
    if api_url.startswith("https://"):
        return "wss://" + api_url[len("https://") :] + path
    return "ws://" + api_url.removeprefix("http://") + path


def socket_headers(settings: Settings) -> dict[str, str]:
    """The upgrade request's headers: the REST ones (proxies in front of Cloud check them)."""
    return build_headers(settings)


def auth_message(settings: Settings) -> str:
    """The first message: the API key (Cloud) or the raw auth string (self-hosted)."""
    token = settings.api_key or settings.auth_string
    return msgspec.json.encode({"type": "auth", "token": token}).decode()


def filter_payload(label: str, value: object, tp: Any, model: str) -> dict[str, Any]:
    """``filter=`` as JSON-ready builtins, checked against ``tp`` (unknown keys included).

    A malformed filter fails here, before any connection, with a message naming the field.
    """
    if value is None:
        return {}
    hint = f"pass skiff.client.models.{model}(...) or a dict of the same shape"
    try:
        payload = msgspec.to_builtins(value)
    except TypeError as exc:
        raise ValidationError(f"{label}(): filter cannot be sent as JSON ({exc}); {hint}") from None
    if not isinstance(payload, dict):
        raise ValidationError(
            f"{label}(): filter must be a {model} or a dict, not {type(value).__name__}; {hint}"
        )
    unknown = sorted(set(payload) - set(tp.__struct_fields__))
    if unknown:
        known = ", ".join(tp.__struct_fields__)
        raise ValidationError(
            f"{label}(): unknown filter field(s) {', '.join(map(repr, unknown))}; "
            f"a {model} has: {known}"
        )
    try:
        msgspec.convert(payload, tp)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"{label}(): invalid filter: {exc}; {hint}") from None
    return dict(payload)


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).isoformat()


def _parse_time(raw: object) -> _dt.datetime | None:
    if not isinstance(raw, str):
        return None
    return msgspec.convert(raw, _dt.datetime)


def events_filter(
    base: Mapping[str, Any], resume_after: _dt.datetime | None, first_since: _dt.datetime
) -> dict[str, Any]:
    """The filter for one connection: the user's, with an ``occurred`` window that resumes.

    ``since`` is the user's, or ``first_since`` on the first connection; after a drop it
    moves up to the last event seen minus :data:`RESUME_MARGIN`, so the server's backfill
    replays the gap (and the dedupe window drops what was already delivered). ``until``
    defaults to a year ahead, or the server would stop the live stream at connect time.
    """
    occurred = dict(base.get("occurred") or {})
    user_since = _parse_time(occurred.get("since"))
    since = user_since or first_since
    if resume_after is not None:
        since = max(since, resume_after - RESUME_MARGIN)
    occurred["since"] = _iso(since)
    occurred.setdefault("until", _iso(now() + _FOREVER))
    return {**base, "occurred": occurred}


def filter_message(payload: Mapping[str, Any], *, backfill: bool) -> str:
    """The filter message for the socket."""
    message: dict[str, Any] = {"type": "filter", "filter": payload}
    if backfill:
        message["backfill"] = True
    return msgspec.json.encode(message).decode()


class Message(msgspec.Struct):
    """What the socket sends after auth: ``event``/``log`` carry the item."""

    type: str
    event: StreamEvent | None = None
    log: models.Log | None = None
    reason: str | None = None


MESSAGE_DECODER = msgspec.json.Decoder(Message)
LOGS_DECODER = msgspec.json.Decoder(list[models.Log])


class EventPage(msgspec.Struct):
    """``POST /events/filter``'s answer, keeping every resource label."""

    events: list[StreamEvent] = msgspec.field(default_factory=list)
    next_page: str | None = None


EVENT_PAGE_DECODER = msgspec.json.Decoder(EventPage)


def require_websockets() -> None:
    """Raise :class:`~skiff.MissingExtraError` unless the ``websockets`` package imports."""
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise MissingExtraError("stream", "websockets") from None


def _fake_response(status: int, url: str, body: bytes = b"") -> httpx.Response:
    # APIStatusError carries an httpx.Response; the upgrade's answer is rebuilt as one.
    http_url = "http" + url.removeprefix("ws")
    return httpx.Response(status, content=body, request=httpx.Request("GET", http_url))


_FIX_URL = (
    f"check that {c.ENV_API_URL} is the server's API URL (it ends in /api) and that any "
    f"proxy in front of it passes WebSocket upgrades (the Upgrade and Connection headers)"
)
_FIX_AUTH = (
    f"set {c.ENV_API_AUTH_STRING} to the server's PREFECT_SERVER_API_AUTH_STRING "
    f"(self-hosted), or {c.ENV_API_KEY} (Prefect Cloud)"
)


def _status_error(status: int, url: str, body: bytes, path: str) -> APIStatusError:
    response = _fake_response(status, url, body)
    snippet = redact_text(body[:2000].decode(errors="replace"))[:200]
    if status in (401, 403):
        message = f"{path}: the server refused the WebSocket upgrade with {status}: {_FIX_AUTH}"
    elif status == 404:
        message = (
            f"{path}: the server answered 404 to the WebSocket upgrade, so nothing serves "
            f"WebSockets at {url} (Prefect 3 serves {path} under its API): {_FIX_URL}"
        )
    elif status < 400:
        message = (
            f"{path}: the server answered {status} instead of upgrading to a WebSocket; "
            f"a proxy is probably stripping the upgrade: {_FIX_URL}"
        )
        return APIStatusError(message, response=response, detail=snippet or None)
    else:
        message = f"{path}: the WebSocket upgrade got {status}" + (
            f": {snippet!r}" if snippet else ""
        )
    return error_class_for_status(status)(message, response=response, detail=snippet or None)


def auth_refused(reason: str | None, url: str, path: str) -> AuthenticationError:
    """The error for credentials the socket refused (a stand-in 401 response is attached)."""
    reason = redact_text(reason or "no reason given")[:500]
    message = f"{path}: the server refused the socket's credentials ({reason}): {_FIX_AUTH}"
    return AuthenticationError(message, response=_fake_response(401, url), detail=reason)


def page_token(next_page: str | None) -> str | None:
    """The ``page-token`` of an events page's ``next_page`` URL."""
    if not next_page:
        return None
    tokens = parse_qs(urlsplit(next_page).query).get("page-token")
    return tokens[0] if tokens else None


def window_filter(
    base: Mapping[str, Any],
    key: str,
    names: tuple[str, str],
    since: _dt.datetime,
    until: _dt.datetime,
) -> dict[str, Any]:
    """The user's filter narrowed to ``[since, until]`` under ``key`` (a sweep's REST query)."""
    window = dict(base.get(key) or {})
    window[names[0]] = _iso(since)
    window[names[1]] = _iso(until)
    return {**base, key: window}


def event_to_send(label: str, index: int, value: object) -> StreamEvent:
    """One event for ``POST /events``: checked, with ``id`` and ``occurred`` filled in."""
    try:
        raw = msgspec.to_builtins(value)
    except TypeError as exc:
        raise ValidationError(f"{label}(): event #{index} cannot be sent as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"{label}(): event #{index} must be a StreamEvent or a dict")
    raw.setdefault("id", str(uuid.uuid4()))
    raw.setdefault("occurred", _iso(now()))
    try:
        event = msgspec.convert(raw, StreamEvent)
    except msgspec.ValidationError as exc:
        raise ValidationError(
            f"{label}(): event #{index} is malformed: {exc}; it needs `event` (a name) and "
            f"`resource` (a dict of string labels)"
        ) from None
    if "prefect.resource.id" not in event.resource:
        raise ValidationError(
            f"{label}(): event #{index}'s resource has no 'prefect.resource.id' label; "
            f"the server drops events without one"
        )
    return event


def socket_error(exc: BaseException, url: str, path: str) -> SkiffError:
    """The SkiffError for anything a socket session raised (see :func:`is_retryable`)."""
    if isinstance(exc, SkiffError):
        return exc
    from websockets import exceptions as ws

    if isinstance(exc, ws.InvalidStatus):
        return _status_error(exc.response.status_code, url, bytes(exc.response.body or b""), path)
    if isinstance(exc, ws.ConnectionClosed) and exc.rcvd is not None:
        code, reason = exc.rcvd.code, redact_text(exc.rcvd.reason)[:500]
        if code == 1008:
            return auth_refused(reason, url, path)
        if code == 1002 and reason.startswith("Invalid filter"):
            return ValidationError(
                f"{path}: the server rejected the filter: {reason}; fix the filter= argument"
            )
        if code == 1002:
            return APIError(f"{path}: the server closed the socket as a protocol error: {reason}")
    if isinstance(exc, (ws.InvalidURI, ws.InvalidUpgrade, ws.InvalidHeader, ws.NegotiationError)):
        return APIError(f"{path}: the WebSocket handshake with {url} failed ({exc}): {_FIX_URL}")
    return APIConnectionError(
        f"{path}: lost or cannot open the WebSocket to {url} ({exc!r}); is the server running "
        f"and {c.ENV_API_URL} right?"
    )


def is_retryable(error: BaseException) -> bool:
    """Whether a reconnect may help: connection trouble and busy or failing servers."""
    return isinstance(error, (APIConnectionError, InternalServerError, RateLimitError))
