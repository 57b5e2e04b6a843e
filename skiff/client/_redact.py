"""Keep secret values out of anything built from the server's answer.

A 422 from Prefect echoes the request body back (pydantic's ``input`` on each error, and
Prefect's own ``request_body``), so a block document create would put its credentials into
the exception message, its ``detail`` and every log line that prints them. Two rules,
applied to the whole answer before any of it is stored or shown:

* echoed request values (``input``, ``request_body``) are dropped: they can hold a secret
  under any name (a ``Secret`` block's field is just ``value``);
* values under keys that look secret (``secret``, ``password``, ``token``, ``key``,
  ``credential``, ``auth``, ``private``, ...) are masked, in parsed JSON and in free text.

What stays is where and what went wrong: each error's ``loc`` and ``msg``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "describe", "is_secret_key", "redact", "redact_text"]

MASK = "***"

# Keys whose values are the request echoed back, never the server's own words.
_ECHO_KEYS = frozenset({"input", "request_body"})

_SECRET_WORDS = (
    r"secret|passw(?:or)?d|pwd|token|key|credential|auth|private|signature|cookie|session"
)
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)

# `name: value`, `name=value`, `"name": "value"`, with a secret-looking name.
_ASSIGNMENT = re.compile(
    r"""(?P<name>["']?[\w.-]*(?:"""
    + _SECRET_WORDS
    + r""")[\w.-]*["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^"'\s,;&}\]]+)""",
    re.IGNORECASE,
)
# An Authorization header's credentials: the scheme word alone is not the secret.
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+[\w.~+/=-]+", re.IGNORECASE)

# How many field errors a message lists before summing up the rest.
_MAX_LISTED = 5


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names something that should never be shown."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """``text`` with every secret-looking assignment's value and auth credential masked."""
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    return _ASSIGNMENT.sub(lambda m: f"{m.group('name')}{m.group('quote')}{MASK}", text)


def redact(value: Any) -> Any:
    """A copy of parsed JSON without echoed inputs and with secret-looking values masked."""
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key in _ECHO_KEYS:
                continue
            out[key] = MASK if is_secret_key(key) and item not in (None, "") else redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _field_error(item: Mapping[str, Any]) -> str:
    loc = ".".join(str(part) for part in item.get("loc") or ())
    msg = str(item.get("msg", "invalid"))
    return f"{loc}: {msg}" if loc else msg


def describe(detail: Any) -> str:
    """A short ``"field: message; ..."`` summary of an (already redacted) error detail."""
    if isinstance(detail, list):
        parts = [
            _field_error(item) if isinstance(item, Mapping) else str(item)
            for item in detail[:_MAX_LISTED]
        ]
        if len(detail) > _MAX_LISTED:
            parts.append(f"(+{len(detail) - _MAX_LISTED} more)")
        return "; ".join(parts)
    if isinstance(detail, Mapping) and "msg" in detail:
        return _field_error(detail)
    return str(detail)
