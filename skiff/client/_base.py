"""Transport logic that does no I/O, shared by the async source and the generated sync code."""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from skiff.client import _constants as c
from skiff.client._exceptions import (
    APIStatusError,
    ResponseValidationError,
    error_class_for_status,
)
from skiff.client._redact import describe, redact, redact_text

if TYPE_CHECKING:
    import httpx

    from skiff.client._settings import Settings

__all__ = [
    "CsrfState",
    "build_headers",
    "decode",
    "encode",
    "error_from_response",
    "is_write",
    "not_json_error",
]

_encoder = msgspec.json.Encoder()

# How much of a non-JSON error body is scanned for secrets, and how much of it is kept.
_TEXT_SCAN = 10_000
_TEXT_SHOWN = 500

# A write is anything that can change server state; the server checks CSRF tokens on these.
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_write(method: str) -> bool:
    """Whether the HTTP method changes state (and so needs a CSRF token when CSRF is on)."""
    return method.upper() in _WRITE_METHODS


def encode(value: Any) -> bytes:
    """JSON-encode a request body (Structs drop their unset fields)."""
    return _encoder.encode(value)


@functools.cache
def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp)


def decode(response: httpx.Response, tp: Any) -> Any:
    """Decode a response body into ``tp``, reusing one decoder per type."""
    try:
        return _decoder(tp).decode(response.content)
    except msgspec.ValidationError as exc:
        raise ResponseValidationError(
            f"{response.request.method} {response.request.url.path}: "
            f"response body does not match {getattr(tp, '__name__', tp)}: {exc}",
            response=response,
        ) from None
    except msgspec.DecodeError as exc:
        raise not_json_error(response, exc) from None


def not_json_error(response: httpx.Response, exc: Exception) -> ResponseValidationError:
    """The error for a body that is not JSON: most likely not the Prefect API answering."""
    snippet = redact_text(response.text[:_TEXT_SCAN])[:200].replace("\n", " ")
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return ResponseValidationError(
        f"{response.request.method} {response.request.url.path}: expected JSON from the Prefect "
        f"API, got {response.status_code} {kind} ({exc}) starting with {snippet!r}. Something "
        f"else may be answering (a proxy or a single sign-on page): check that "
        f"{c.ENV_API_URL} points at the Prefect server's API (it usually ends in /api) and "
        f"that any proxy in front of it lets API requests through",
        response=response,
    )


def build_headers(settings: Settings) -> dict[str, str]:
    """Headers every request carries: API version and auth."""
    headers = {c.API_VERSION_HEADER: c.API_VERSION, "User-Agent": "skiff"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    elif settings.auth_string:
        token = base64.b64encode(settings.auth_string.encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


def _detail(response: httpx.Response) -> Any:
    """The server's complaint, with echoed request values dropped and secrets masked."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        # Redact before cutting, so a secret straddling the cut is still recognised.
        return redact_text(response.text[:_TEXT_SCAN])[:_TEXT_SHOWN] or None
    if isinstance(body, Mapping):
        # FastAPI's shape is {"detail": ...}; Prefect's own handlers answer
        # {"exception_message": ..., "exception_detail": [...], "request_body": ...}.
        for key in ("detail", "exception_detail", "exception_message"):
            if key in body:
                return redact(body[key])
    return redact(body)


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The typed exception for an error response, carrying the server's redacted ``detail``.

    Neither the message nor ``detail`` holds the request body the server echoes, nor any
    value under a secret-looking key (see :mod:`skiff.client._redact`).
    """
    detail = _detail(response)
    cls = error_class_for_status(response.status_code)
    message = f"{response.request.method} {response.request.url.path} -> {response.status_code}" + (
        f": {describe(detail)}" if detail not in (None, "") else ""
    )
    return cls(message, response=response, detail=detail)


class _CsrfToken(msgspec.Struct):
    """What ``GET /csrf-token`` answers; only the token matters here."""

    token: str


class CsrfState:
    """Which CSRF token to send, if the server wants one. Starts unknown; learnt on first write."""

    def __init__(self) -> None:
        self.client_id = uuid.uuid4().hex
        self.enabled: bool | None = None
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        """The CSRF headers for a write, once a token is known."""
        if self.enabled and self.token:
            return {c.CSRF_TOKEN_HEADER: self.token, c.CSRF_CLIENT_HEADER: self.client_id}
        return {}

    def needs_token(self, method: str) -> bool:
        """Whether a token must be fetched before sending this request."""
        return is_write(method) and self.enabled is not False and self.token is None

    def learn(self, response: httpx.Response) -> None:
        """Record the reply of ``GET /csrf-token``: a token, or 422 meaning CSRF is off."""
        # 422 is the server's "CSRF protection is disabled"; 404 is a server without the route.
        if response.status_code in (404, 422):
            self.enabled = False
            self.token = None
            return
        if response.is_success:
            self.enabled = True
            self.token = decode(response, _CsrfToken).token
            return
        raise error_from_response(response)

    @staticmethod
    def is_token_rejection(response: httpx.Response) -> bool:
        """A 403 that means "your CSRF token is stale or missing", worth one refresh."""
        return response.status_code == 403 and "csrf" in response.text.lower()

    def invalidate(self) -> None:
        """Forget the token so the next write fetches a fresh one."""
        self.token = None
        self.enabled = None
