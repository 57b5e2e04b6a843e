"""Checks for the ``@flow`` / ``@task`` keyword arguments: a bad value fails at decoration time."""

from __future__ import annotations

import datetime
import difflib
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from skiff._exceptions import ValidationError

__all__ = ["check_options"]

FLOW_OPTIONS = frozenset(
    {
        "name", "description", "version", "retries", "retry_delay_seconds", "retry_jitter_factor",
        "timeout_seconds", "tags", "log_prints", "cache_key_fn", "cache_expiration",
        "task_run_name", "flow_run_name", "persist_result", "result_storage", "on_completion",
        "on_failure",
    }
)  # fmt: skip


def _number(owner: str, key: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"{owner}: {key}={value!r} must be a number of seconds")
    number = float(value)
    if number < 0 or (positive and number == 0) or number != number:
        raise ValidationError(f"{owner}: {key}={value!r} must be {'> 0' if positive else '>= 0'}")
    return number


def _hooks(owner: str, key: str, value: Any) -> tuple[Callable[..., Any], ...]:
    hooks = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    for hook in hooks:
        if not callable(hook):
            raise ValidationError(
                f"{owner}: {key} must be a callable or a list of callables, got {hook!r}"
            )
    return hooks


def check_options(owner: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise decorator options; raises :class:`~skiff.ValidationError`."""
    unknown = set(options) - FLOW_OPTIONS
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, FLOW_OPTIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(f"{owner}: unknown keyword argument {key!r}{hint}")
    out = dict(options)
    for key in ("name", "description", "version"):
        if out.get(key) is not None and not isinstance(out[key], str):
            raise ValidationError(f"{owner}: {key}={out[key]!r} must be a string")
    retries = out.get("retries")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
    ):
        raise ValidationError(f"{owner}: retries={retries!r} must be a whole number >= 0")
    delay = out.get("retry_delay_seconds")
    if delay is not None:
        if isinstance(delay, (list, tuple)):
            if not delay:
                raise ValidationError(f"{owner}: retry_delay_seconds=[] needs at least one delay")
            out["retry_delay_seconds"] = [_number(owner, "retry_delay_seconds", d) for d in delay]
        else:
            out["retry_delay_seconds"] = _number(owner, "retry_delay_seconds", delay)
    if out.get("retry_jitter_factor") is not None:
        out["retry_jitter_factor"] = _number(
            owner, "retry_jitter_factor", out["retry_jitter_factor"]
        )
    if out.get("timeout_seconds") is not None:
        out["timeout_seconds"] = _number(
            owner, "timeout_seconds", out["timeout_seconds"], positive=True
        )
    tags = out.get("tags")
    if tags is not None:
        if isinstance(tags, str) or not isinstance(tags, Iterable):
            raise ValidationError(f"{owner}: tags={tags!r} must be a list of strings")
        tags = tuple(tags)
        if not all(isinstance(t, str) for t in tags):
            raise ValidationError(f"{owner}: tags={tags!r} must be a list of strings")
        out["tags"] = tags
    expiration = out.get("cache_expiration")
    if expiration is not None:
        if isinstance(expiration, datetime.timedelta):
            out["cache_expiration"] = expiration.total_seconds()
        else:
            out["cache_expiration"] = _number(owner, "cache_expiration", expiration)
    if out.get("cache_key_fn") is not None and not callable(out["cache_key_fn"]):
        raise ValidationError(f"{owner}: cache_key_fn must be callable")
    for key in ("task_run_name", "flow_run_name"):
        value = out.get(key)
        if value is not None and not (isinstance(value, str) or callable(value)):
            raise ValidationError(f"{owner}: {key} must be a template string or a callable")
    for key in ("on_completion", "on_failure"):
        if out.get(key) is not None:
            out[key] = _hooks(owner, key, out[key])
    storage = out.get("result_storage")
    if storage is not None and not isinstance(storage, str):
        raise ValidationError(f"{owner}: result_storage must be a folder path (str)")
    for key in ("log_prints", "persist_result"):
        if out.get(key) is not None and not isinstance(out[key], bool):
            raise ValidationError(f"{owner}: {key}={out[key]!r} must be True or False")
    return out
