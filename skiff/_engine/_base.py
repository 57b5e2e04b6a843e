"""Pure logic both engines share: run names, task keys, retry delays, hook and log texts."""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import random
from collections.abc import Callable
from typing import Any

__all__ = [
    "exception_state_message",
    "format_run_name",
    "hook_name",
    "jittered",
    "retry_delay",
    "source_file_hash",
    "task_key_for",
]


def task_key_for(fn: Callable[..., Any]) -> str:
    """``<function name>-<8 hex digits of its code>``, the shape Prefect uses."""
    code = getattr(fn, "__code__", None)
    digest = hashlib.md5(
        (getattr(fn, "__qualname__", repr(fn)) + repr(code.co_code if code else fn)).encode(),
        usedforsecurity=False,
    ).hexdigest()
    return f"{getattr(fn, '__name__', type(fn).__name__)}-{digest[:8]}"


@functools.lru_cache(maxsize=256)
def _file_md5(path: str) -> str | None:
    try:
        with open(path, "rb") as src:
            return hashlib.md5(src.read(), usedforsecurity=False).hexdigest()
    except OSError:
        return None


def source_file_hash(fn: Callable[..., Any]) -> str | None:
    """The md5 of the file that defines ``fn``: Prefect's default flow version."""
    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        return None
    return _file_md5(path) if path else None


def format_run_name(template: Any, parameters: dict[str, Any], kind: str) -> str:
    """A run name from a template (``"run-{x}"``) or a callable, as Prefect resolves it.

    A callable is called without arguments, or with ``parameters=`` when it takes that.
    """
    if callable(template):
        try:
            takes_parameters = "parameters" in inspect.signature(template).parameters
        except (TypeError, ValueError):
            takes_parameters = False
        name = template(parameters=parameters) if takes_parameters else template()
        if not isinstance(name, str):
            raise TypeError(
                f"Callable {template} for '{kind}' returned type {type(name).__name__}"
                " but a string is required."
            )
        return name
    if isinstance(template, str):
        return template.format(**parameters)
    raise TypeError(
        f"Expected string or callable for '{kind}'; got {type(template).__name__} instead."
    )


def retry_delay(retries_done: int, delays: Any) -> Any:
    """The delay before the next retry: a list repeats its last value (Prefect's rule)."""
    if isinstance(delays, (list, tuple)):
        return delays[min(retries_done, len(delays) - 1)]
    return delays or 0


def jittered(delay: float, factor: float | None) -> float:
    """``delay`` spread by a clamped exponential variate, as Prefect's retry jitter does.

    The draw lies within ``[c * delay, (1 + factor) * delay]``, with ``c`` chosen so that
    as much probability lies below the median as above it.
    """
    if not factor or delay <= 0:
        return delay
    k = 1 + factor
    c = 0.0 if k >= 50 else math.log(2**k / (2**k - 1), 2)
    low_rv = 1 - math.exp(-max(0.0, c * delay) / delay)
    high_rv = 1 - math.exp(-k * delay / delay)
    return -math.log(max(1 - random.uniform(low_rv, high_rv), 1e-10)) * delay


def hook_name(hook: Callable[..., Any]) -> str:
    """The name Prefect's hook log lines use."""
    if hasattr(hook, "__name__"):
        return str(hook.__name__)
    if isinstance(hook, functools.partial):
        return str(hook.func.__name__)
    return type(hook).__name__


def exception_state_message(prefix: str, error: BaseException) -> str:
    """``"<prefix> ValueError: boom"``, the message of a Failed state made from an exception."""
    return f"{prefix} {type(error).__name__}: {error}"
