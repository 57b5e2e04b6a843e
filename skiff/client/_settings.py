"""Settings: explicit argument, then environment, then default; read when built, never at import."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from skiff._exceptions import ConfigurationError
from skiff.client import _constants as c
from skiff.client._types import NOT_GIVEN, NotGiven

__all__ = ["Settings"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _parse_url(name: str, raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"{name}={raw!r} is not a valid API URL: it needs an http:// or https:// scheme "
            f"and a host, for example http://127.0.0.1:4200/api"
        )
    return value


def _parse_float(name: str, raw: str | float, *, allow_zero: bool = True) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        limit = "a non-negative" if allow_zero else "a positive"
        raise ConfigurationError(f"{name}={raw!r} must be {limit} finite number of seconds")
    return value


def _parse_int(name: str, raw: str | int, *, minimum: int) -> int:
    if isinstance(raw, bool):
        raise ConfigurationError(f"{name}={raw!r} is not a whole number")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _parse_bool(name: str, raw: str | bool) -> bool:
    if isinstance(raw, bool):
        return raw
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean: use true or false")


def _parse_str(name: str, raw: str) -> str | None:
    return raw or None


def _parse_cert_file(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if not os.path.isfile(raw):
        raise ConfigurationError(f"{name}={raw!r} does not name an existing certificate file")
    return raw


@dataclass(frozen=True)
class Settings:
    """Everything skiff can be configured with.

    Build it with :meth:`Settings.load`, which takes explicit values first, then the
    environment (Prefect's own variable names, plus ``SKIFF_*`` ones), then defaults.
    A malformed value raises :class:`~skiff.ConfigurationError` naming the variable.
    """

    api_url: str | None = None
    api_key: str | None = None
    auth_string: str | None = None
    request_timeout: float = c.DEFAULT_REQUEST_TIMEOUT
    max_retries: int = c.DEFAULT_MAX_RETRIES
    tls_insecure_skip_verify: bool = False
    ssl_cert_file: str | None = None
    flush_timeout: float = c.DEFAULT_FLUSH_TIMEOUT
    flush_interval: float = c.DEFAULT_FLUSH_INTERVAL
    buffer_max_bytes: int = c.DEFAULT_BUFFER_MAX_BYTES
    buffer_max_items: int = c.DEFAULT_BUFFER_MAX_ITEMS
    spool_dir: str | None = None
    strict: bool = False
    reporting: bool = True
    lean_task_events: bool = False
    heartbeat_interval: float = c.DEFAULT_HEARTBEAT_INTERVAL

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Resolve every setting: keyword overrides (ignored when ``NOT_GIVEN``), then ``environ``
        (default ``os.environ``), then the default."""
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for field_name, (env_name, parse) in _SOURCES.items():
            given = overrides.get(field_name, NOT_GIVEN)
            if not isinstance(given, NotGiven):
                values[field_name] = None if given is None else parse(field_name, given)
            elif env_name in env:
                values[field_name] = parse(env_name, env[env_name])
        return cls(**values)

    def require_api_url(self) -> str:
        """The API URL, or a :class:`~skiff.ConfigurationError` that says how to set one."""
        if not self.api_url:
            raise ConfigurationError(
                f"no Prefect API URL is configured: set {c.ENV_API_URL} "
                f"(for example export {c.ENV_API_URL}=http://127.0.0.1:4200/api) "
                f"or pass api_url= to Client(...). skiff never starts a local server."
            )
        return self.api_url

    def __repr__(self) -> str:
        shown = {
            f.name: (
                "***"
                if f.name in ("api_key", "auth_string") and getattr(self, f.name)
                else getattr(self, f.name)
            )
            for f in fields(self)
        }
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


_SOURCES: dict[str, tuple[str, Any]] = {
    "api_url": (c.ENV_API_URL, _parse_url),
    "api_key": (c.ENV_API_KEY, _parse_str),
    "auth_string": (c.ENV_API_AUTH_STRING, _parse_str),
    "request_timeout": (
        c.ENV_API_REQUEST_TIMEOUT,
        lambda n, v: _parse_float(n, v, allow_zero=False),
    ),
    "max_retries": (c.ENV_CLIENT_MAX_RETRIES, lambda n, v: _parse_int(n, v, minimum=0)),
    "tls_insecure_skip_verify": (c.ENV_TLS_INSECURE_SKIP_VERIFY, _parse_bool),
    "ssl_cert_file": (c.ENV_SSL_CERT_FILE, _parse_cert_file),
    "flush_timeout": (c.ENV_FLUSH_TIMEOUT, _parse_float),
    "flush_interval": (c.ENV_FLUSH_INTERVAL, lambda n, v: _parse_float(n, v, allow_zero=False)),
    "buffer_max_bytes": (c.ENV_BUFFER_MAX_BYTES, lambda n, v: _parse_int(n, v, minimum=1024)),
    "buffer_max_items": (c.ENV_BUFFER_MAX_ITEMS, lambda n, v: _parse_int(n, v, minimum=1)),
    "spool_dir": (c.ENV_SPOOL_DIR, _parse_str),
    "strict": (c.ENV_STRICT, _parse_bool),
    "reporting": (c.ENV_REPORTING, _parse_bool),
    "lean_task_events": (c.ENV_LEAN_TASK_EVENTS, _parse_bool),
    "heartbeat_interval": (
        c.ENV_HEARTBEAT_INTERVAL,
        lambda n, v: _parse_float(n, v, allow_zero=False),
    ),
}
