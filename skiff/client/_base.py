"""Logic that does no I/O, shared by the async source and the generated sync code.

Request shaping (headers, CSRF, ``path_param``, ``query_params``), the argument and body
checks the generated methods call (``check_argument``, ``check_body``, with the server's
documented limits), decoding (``decode``, ``decode_any``) and error mapping.
"""

from __future__ import annotations

import base64
import functools
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec

from skiff._exceptions import (
    APIStatusError,
    ResponseValidationError,
    ValidationError,
    error_class_for_status,
)
from skiff.client import _constants as c
from skiff.client._redact import describe, redact, redact_text
from skiff.client._spec_tables import LIMITS
from skiff.client._types import NotGiven

if TYPE_CHECKING:
    import httpx

    from skiff.client._settings import Settings

__all__ = [
    "CsrfState",
    "build_headers",
    "check_argument",
    "check_body",
    "check_limits",
    "decode",
    "decode_any",
    "encode",
    "error_from_response",
    "is_write",
    "not_json_error",
    "path_param",
    "query_params",
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


def decode_any(response: httpx.Response) -> Any:
    """A body the spec leaves untyped: JSON when it is JSON, else text; None when empty.

    An HTML page is never the Prefect API's answer (it is a proxy's or a login page), so it
    raises :class:`~skiff.ResponseValidationError` rather than being handed back as text.
    """
    if not response.content:
        return None
    kind = response.headers.get("content-type", "json")
    if "json" in kind:
        return decode(response, Any)
    if "html" in kind:
        raise not_json_error(response, ValueError("an HTML page"))
    return response.text


def path_param(value: object) -> str:
    """A path segment, percent-encoded so names with '/' or spaces stay one segment."""
    return quote(str(value), safe="")


def query_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left unset."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is msgspec.UNSET or isinstance(value, NotGiven):
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = [str(v) for v in value]
        else:
            out[key] = str(value)
    return out


_AT = re.compile(r"\s*- at `\$(.*)`$")


def _invalid(label: str, root: str, exc: Exception) -> ValidationError:
    message = str(exc)
    match = _AT.search(message)
    where = root
    if match:
        message = message[: match.start()]
        where = (root + match.group(1)) if root else match.group(1).lstrip(".")
    return ValidationError(f"{label}(): invalid argument `{where or 'body'}`: {message}")


def check_argument(label: str, name: str, value: object, tp: Any) -> None:
    """Raise :class:`~skiff.ValidationError` naming ``name`` unless ``value`` fits ``tp``.

    Structs don't validate on construction, so arguments are checked here, before sending.
    """
    if value is msgspec.UNSET:
        return
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        raise _invalid(label, name, exc) from None


def check_body(label: str, value: object, tp: Any, root: str = "") -> msgspec.Raw:
    """The request body as JSON, once it has been checked against ``tp`` and the server's limits.

    One encode and one typed decode: the decode catches wrongly typed fields (naming the
    field path), the encode values JSON can't hold, and plain dicts pass where a Struct is
    expected. The encoded bytes are what is sent (``msgspec.Raw``), so nothing is converted
    again. Limits the spec documents (``bulk_delete(limit <= 50)``, name patterns, ...) are
    checked by :func:`check_limits`.
    """
    try:
        raw = _encoder.encode(value)
        decoded = _decoder(tp).decode(raw)
    except msgspec.ValidationError as exc:
        raise _invalid(label, root, exc) from None
    except (TypeError, msgspec.EncodeError) as exc:
        raise ValidationError(f"{label}(): a value cannot be sent as JSON: {exc}") from None
    check_limits(label, decoded, root)
    return msgspec.Raw(raw)


def _broken(kind: str, bound: Any, value: Any) -> str | None:
    """How ``value`` breaks the constraint, or None when it holds."""
    if kind in ("maxItems", "minItems", "maxLength", "minLength"):
        if not isinstance(value, (list, tuple, str, dict)):
            return None
        size = len(value)
        what = "characters" if isinstance(value, str) else "items"
        if kind.startswith("max") and size > bound:
            return f"at most {bound} {what} (got {size})"
        if kind.startswith("min") and size < bound:
            return f"at least {bound} {what} (got {size})"
        return None
    if kind == "pattern":
        if isinstance(value, str) and not re.search(bound, value):
            return f"a value matching {bound!r} (got {value!r})"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind == "maximum" and value > bound:
        return f"at most {bound} (got {value})"
    if kind == "exclusiveMaximum" and value >= bound:
        return f"less than {bound} (got {value})"
    if kind == "minimum" and value < bound:
        return f"at least {bound} (got {value})"
    if kind == "exclusiveMinimum" and value <= bound:
        return f"more than {bound} (got {value})"
    return None


def check_limits(label: str, value: Any, root: str = "") -> None:
    """Raise :class:`~skiff.ValidationError` naming the limit a body breaks.

    Walks the decoded body; every Struct whose model has documented constraints (the
    ``LIMITS`` table, derived from the spec by ``scripts/spec_tables.py``) is checked.
    """
    if isinstance(value, msgspec.Struct):
        for attr, json_name, kind, bound in LIMITS.get(type(value).__name__, ()):
            field_value = getattr(value, attr, None)
            if field_value is None or field_value is msgspec.UNSET:
                continue
            problem = _broken(kind, bound, field_value)
            if problem:
                where = f"{root}.{json_name}" if root else json_name
                raise ValidationError(
                    f"{label}(): invalid argument `{where}`: the server allows {problem}"
                )
        for attr in value.__struct_fields__:
            child = getattr(value, attr)
            if isinstance(child, (msgspec.Struct, list, tuple)):
                check_limits(label, child, f"{root}.{attr}" if root else attr)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, (msgspec.Struct, list, tuple)):
                check_limits(label, item, f"{root}[{index}]")


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
    hint = missing_api_hint(response)
    if hint:
        message += f". {hint}"
    return cls(message, response=response, detail=detail)


def missing_api_hint(response: httpx.Response) -> str | None:
    """For a 404 whose URL has no ``/api`` segment: the hint that the API URL lacks ``/api``.

    The Prefect server serves its API under ``/api`` (and Prefect Cloud under
    ``/api/accounts/...``); anything else answering 404 is the UI or a proxy.
    """
    if response.status_code != 404:
        return None
    segments = response.request.url.path.split("/")
    if "api" in segments:
        return None
    base = str(response.request.url.copy_with(query=None, fragment=None))
    return (
        f"The URL {base} has no /api segment: {c.ENV_API_URL} should be the server's API URL, "
        f"which ends in /api (e.g. http://127.0.0.1:4200/api)"
    )


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
