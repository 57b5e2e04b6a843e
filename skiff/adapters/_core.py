"""Pure helpers shared by the serverless adapters: keywords, recording, environment.

Nothing here does I/O or imports a platform's runtime. The platform protocol is in
:mod:`skiff.adapters._protocol`, the one wrapper builder in :mod:`skiff.adapters._builder`
and the deadline guard in :mod:`skiff.adapters._guard`.
"""

from __future__ import annotations

import logging
import numbers
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from skiff._exceptions import SkiffError, ValidationError

# Imported lazily (not at module import): msgspec, difflib and skiff._engine, so that
# importing an adapter stays cheap for a cold start.

__all__ = [
    "COMMON_OPTIONS",
    "MAX_PARAMETER_BYTES",
    "TIMEOUT_STATES",
    "Options",
    "check_seconds",
    "env_labels",
    "env_seconds",
    "first_env",
    "labels",
    "loaded_class",
    "log_once",
    "monotonic_deadline",
    "parse_options",
    "summarize",
]

logger = logging.getLogger("skiff")

COMMON_OPTIONS: Mapping[str, Any] = {
    # Maps the trigger's event to a wrapped flow's parameters: ``parameters(event) -> dict``.
    "parameters": None,
    # The guard marks the run this many seconds before the platform's deadline.
    "timeout_margin": 1.0,
    # Flushing stops this many seconds before the deadline, so the response still goes out.
    "flush_margin": 0.2,
    # The state the guard leaves: "TimedOut" (a FAILED state) or "Crashed".
    "timeout_state": "TimedOut",
}
"""Adapter keywords every adapter accepts, with their defaults."""

MAX_PARAMETER_BYTES = 64 * 1024
"""Call arguments bigger than this (encoded JSON) are recorded as a size note, not verbatim,
so a large batch cannot make the run's create request fail."""

TIMEOUT_STATES: Mapping[str, str] = {"TimedOut": "FAILED", "Crashed": "CRASHED"}
"""The states the deadline guard may leave (``timeout_state=``), with their state types."""


class Options:
    """Decorator keywords after validation: ``flow`` for :func:`skiff.flow`, ``adapter`` the rest."""

    __slots__ = ("adapter", "flow")

    # Plain classes rather than dataclasses here: building a dataclass costs a cold start ms.
    def __init__(self, flow: dict[str, Any], adapter: dict[str, Any]) -> None:
        self.flow = flow
        self.adapter = adapter

    def __repr__(self) -> str:
        return f"Options(flow={self.flow!r}, adapter={self.adapter!r})"


def check_seconds(owner: str, key: str, value: Any) -> float:
    """``value`` as a float number of seconds >= 0; else :class:`~skiff.ValidationError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        raise ValidationError(f"{owner}: {key}={value!r} must be a number of seconds >= 0")
    return float(value)


def parse_options(owner: str, kwargs: Mapping[str, Any], extra: Mapping[str, Any] = {}) -> Options:
    """Split and validate decorator keywords; raises :class:`~skiff.ValidationError`.

    ``extra`` holds the adapter's own keywords with their defaults (the platform checks
    their values); :data:`COMMON_OPTIONS` are validated here.
    """
    import difflib

    from skiff._engine._options import FLOW_OPTIONS, check_flow_options

    adapter_keys = {**COMMON_OPTIONS, **extra}
    known = FLOW_OPTIONS | set(adapter_keys)
    for key in sorted(kwargs):
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(f"{owner}: unknown keyword argument {key!r}{hint}")
    flow = check_flow_options(owner, {k: v for k, v in kwargs.items() if k in FLOW_OPTIONS})
    adapter = {k: kwargs.get(k, default) for k, default in adapter_keys.items()}
    if adapter["parameters"] is not None and not callable(adapter["parameters"]):
        raise ValidationError(
            f"{owner}: parameters= must be a callable mapping the event to a dict, "
            f"got {adapter['parameters']!r}"
        )
    for key in ("timeout_margin", "flush_margin"):
        adapter[key] = check_seconds(owner, key, adapter[key])
    if adapter["timeout_state"] not in TIMEOUT_STATES:
        raise ValidationError(
            f"{owner}: timeout_state={adapter['timeout_state']!r} must be 'TimedOut' or 'Crashed'"
        )
    return Options(flow, adapter)


def monotonic_deadline(seconds_left: float | None) -> float | None:
    """The :func:`time.monotonic` deadline ``seconds_left`` from now (None stays None)."""
    return None if seconds_left is None else time.monotonic() + max(0.0, seconds_left)


_logged: set[tuple[str, type[BaseException]]] = set()
_logged_lock = threading.Lock()


def log_once(what: str, error: BaseException) -> None:
    """Log an internal skiff error with its traceback once per (what, type); later ones at debug."""
    key = (what, type(error))
    with _logged_lock:
        first = key not in _logged
        _logged.add(key)
    if first:
        logger.error(
            "skiff: %s failed; the handler runs on without it: %s: %s",
            what,
            type(error).__name__,
            error,
            exc_info=error,
        )
    else:
        logger.debug("skiff: %s failed again: %r", what, error)


def summarize(value: Any) -> Any:
    """How a call argument is recorded as a parameter: JSON as is, anything else by type.

    Objects (a Lambda context, an HTTP request, ...) become ``"<module.Type>"``: their
    repr may be long or hold secrets. Values over 64 KiB of JSON become a size note.
    """
    import msgspec

    try:
        size = len(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError):
        kind = type(value)
        return f"<{kind.__module__}.{kind.__qualname__}>"
    if size > MAX_PARAMETER_BYTES:
        return {"skiff.omitted": f"{type(value).__name__} of {size} bytes of JSON"}
    return value


def labels(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Flow-run labels from metadata: None values dropped, non-scalars stringified."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return out


def loaded_class(module: str, name: str) -> Any:
    """``module.name`` only if the user's code already imported ``module`` (never imports it).

    Adapters recognise a runtime's objects (a flask request, an Azure binding) this way
    without paying for the runtime's import, or needing it installed.
    """
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def first_env(names: Sequence[str]) -> str | None:
    """The value of the first of ``names`` that is set and not empty, else None."""
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def env_labels(spec: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    """Labels from the environment: ``{label: first_env(names)}`` for each entry of ``spec``."""
    return {label: first_env(names) for label, names in spec.items()}


def env_seconds(names: Sequence[str], parse: Callable[[str], float | None]) -> float | None:
    """A time limit from the environment: the first of ``names`` set, ``parse``-d; else None.

    0 (and whatever ``parse`` maps to None) means no limit. A malformed value
    (``parse`` raises ``ValueError``) is logged once and the next name is tried.
    """
    for name in names:
        raw = os.environ.get(name)
        if raw:
            try:
                return parse(raw) or None
            except (ValueError, SkiffError) as exc:
                log_once(f"reading {name}", exc)
    return None
