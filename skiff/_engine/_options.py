"""Checks for the ``@flow`` / ``@task`` keyword arguments: a bad value fails at decoration time."""

from __future__ import annotations

import datetime
import difflib
import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any

from skiff._exceptions import ValidationError

__all__ = ["FLOW_OPTIONS", "HOOKS", "TASK_OPTIONS", "check_flow_options", "check_task_options"]

# Prefect 3.9.1's keyword names; ``tags`` on a flow is skiff's own (the run's tags).
FLOW_OPTIONS = frozenset(
    {
        "name", "version", "flow_run_name", "retries", "retry_delay_seconds", "task_runner",
        "description", "timeout_seconds", "validate_parameters", "persist_result",
        "result_storage", "result_serializer", "cache_result_in_memory", "log_prints",
        "on_completion", "on_failure", "on_cancellation", "on_crashed", "on_running", "tags",
    }
)  # fmt: skip
TASK_OPTIONS = frozenset(
    {
        "name", "description", "tags", "version", "cache_policy", "cache_key_fn",
        "cache_expiration", "task_run_name", "retries", "retry_delay_seconds",
        "retry_jitter_factor", "persist_result", "result_storage", "result_serializer",
        "result_storage_key", "cache_result_in_memory", "timeout_seconds", "log_prints",
        "refresh_cache", "on_completion", "on_failure", "on_running", "on_rollback",
        "on_commit", "retry_condition_fn", "viz_return_value", "asset_deps",
    }
)  # fmt: skip
HOOKS = ("on_completion", "on_failure", "on_cancellation", "on_crashed", "on_running")
# Accepted for the signature's sake, with Prefect's meaning where skiff has one.
_UNSUPPORTED = {
    "on_rollback": "transactions are not supported by skiff",
    "on_commit": "transactions are not supported by skiff",
}


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


def check_flow_options(owner: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise ``@flow`` options; raises :class:`~skiff.ValidationError`."""
    return _check(owner, options, FLOW_OPTIONS)


def check_task_options(owner: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise ``@task`` options; raises :class:`~skiff.ValidationError`."""
    return _check(owner, options, TASK_OPTIONS)


def _delays(owner: str, delay: Any) -> Any:
    if callable(delay):
        # Prefect's form: a function of the retry count giving the list of delays.
        return delay
    if isinstance(delay, (list, tuple)):
        if not delay:
            raise ValidationError(f"{owner}: retry_delay_seconds=[] needs at least one delay")
        # Kept as given (1 stays 1): Prefect's retry log line shows the value itself.
        for d in delay:
            _number(owner, "retry_delay_seconds", d)
        return list(delay)
    _number(owner, "retry_delay_seconds", delay)
    return delay


def _check(owner: str, options: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    unknown = set(options) - known
    if unknown:
        key = sorted(unknown)[0]
        other = TASK_OPTIONS if known is FLOW_OPTIONS else FLOW_OPTIONS
        if key in other:
            kind, wrong = ("@task", "@flow") if known is FLOW_OPTIONS else ("@flow", "@task")
            raise ValidationError(f"{owner}: {key!r} is a {kind} option, not a {wrong} one")
        close = difflib.get_close_matches(key, known, n=1)
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
    for key, why in _UNSUPPORTED.items():
        if out.get(key):
            from skiff._engine._errors import NotSupportedError

            raise NotSupportedError(f"{owner}: {key}: {why}")
    if out.get("retry_delay_seconds") is not None:
        out["retry_delay_seconds"] = _delays(owner, out["retry_delay_seconds"])
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
    for key in ("cache_key_fn", "retry_condition_fn"):
        if out.get(key) is not None and not callable(out[key]):
            raise ValidationError(f"{owner}: {key} must be callable")
    for key in ("task_run_name", "flow_run_name"):
        value = out.get(key)
        if value is not None and not (isinstance(value, str) or callable(value)):
            raise ValidationError(f"{owner}: {key} must be a template string or a callable")
    for key in HOOKS:
        if out.get(key) is not None:
            out[key] = _hooks(owner, key, out[key])
    storage = out.get("result_storage")
    if not (
        storage is None
        or isinstance(storage, (str, os.PathLike))
        or callable(getattr(storage, "write_path", None))
    ):
        raise ValidationError(
            f"{owner}: result_storage must be a storage block (S3Bucket, GcsBucket, ...), a "
            f"block slug 'type/name' or a folder path, got {storage!r}"
        )
    for key in ("log_prints", "persist_result", "validate_parameters", "refresh_cache"):
        if out.get(key) is not None and not isinstance(out[key], bool):
            raise ValidationError(f"{owner}: {key}={out[key]!r} must be True or False")
    return out
