"""Which cache policy a task runs with, and the task-level keys, by Prefect 3.9.1's rules.

What the engine calls::

    policy = resolve_policy(cache_policy, cache_key_fn, persist_result, result_storage_given,
                            result_storage_key=..., result_serializer_given=...)
    persist = resolve_persist_result(...)        # the same arguments (Task.persist_result)
    key = policy.compute_key(task_ctx=ctx, inputs=parameters, flow_parameters=flow_params)
    task_source(fn)   # store on the Task at decoration, as Prefect's Task.source_code
    task_key(fn)      # Prefect's exact task_key, or None without cloudpickle

:func:`resolve_policy`'s docstring also says what the engine records on a cache miss and
on a hit. The policies themselves are in :mod:`skiff._engine._policies`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from skiff._engine._hashing import hash_objects
from skiff._engine._policies import (
    DEFAULT,
    NO_CACHE,
    CacheKeyFnPolicy,
    CachePolicy,
    CachePolicyError,
)
from skiff._exceptions import MissingExtraError
from skiff.client._types import NOT_GIVEN

__all__ = [
    "resolve_persist_result",
    "resolve_policy",
    "task_input_hash",
    "task_key",
    "task_source",
]


def _task_source_fn(fn: Any) -> Any:
    # A compatibility wrapper may name the function it stands for (Prefect's convention).
    source = getattr(fn, "__prefect_task_source__", None)
    if source is not None and source is getattr(fn, "__wrapped__", None):
        return source
    return fn


def task_source(fn: Callable[..., Any]) -> str | None:
    """The function's source as Prefect stores it on a Task (``source_code``), or ``None``.

    Read once when the task is defined, so TASK_SOURCE keys survive later edits of the file.
    """
    try:
        return inspect.getsource(fn)
    except (TypeError, OSError):
        return None


def task_key(fn: Callable[..., Any]) -> str | None:
    """Prefect's ``task_key``: ``<name>-<8 hex of the pickled code>``; ``None`` without cloudpickle."""
    source = _task_source_fn(fn)
    if not hasattr(source, "__qualname__"):
        cls = type(source)
        return cls.__module__ + "." + cls.__qualname__
    code = getattr(source, "__code__", None) or source.__call__.__code__
    try:
        digest = hash_objects(code)
    except MissingExtraError:
        return None
    return f"{source.__qualname__.split('.')[-1]}-{digest[:8] if digest else 'unknown'}"


def task_input_hash(context: Any, arguments: dict[str, Any]) -> str | None:
    """Prefect's ``task_input_hash``, a ``cache_key_fn``: task key, code and arguments hashed.

    ``None`` when the arguments cannot be hashed; :class:`~skiff.MissingExtraError` when
    they need cloudpickle and it is missing.
    """
    code = _task_source_fn(context.task.fn).__code__
    return hash_objects(context.task.task_key, code.co_code.hex(), arguments)


def _check_resolve_args(cache_policy: Any, cache_key_fn: Any) -> None:
    given = cache_policy is not NOT_GIVEN and cache_policy is not None
    if given and not isinstance(cache_policy, CachePolicy):
        raise CachePolicyError(
            f"cache_policy must be a cache policy (e.g. INPUTS, TASK_SOURCE, NO_CACHE from "
            f"skiff.cache_policies), got {cache_policy!r}"
        )
    if cache_key_fn is not None and not callable(cache_key_fn):
        raise CachePolicyError(
            f"cache_key_fn must be a function (context, parameters) -> str, got {cache_key_fn!r}"
        )


def resolve_persist_result(
    cache_policy: Any = NOT_GIVEN,
    cache_key_fn: Callable[[Any, dict[str, Any]], str | None] | None = None,
    persist_result: bool | None = None,
    result_storage_given: bool = False,
    *,
    result_storage_key: str | None = None,
    result_serializer_given: bool = False,
) -> bool | None:
    """The task's ``persist_result`` after Prefect's Task.__init__: True when caching is asked.

    ``None`` stays ``None`` (decided at run time, see :func:`resolve_policy`) unless a real
    policy, a ``cache_key_fn``, ``result_storage_key``, ``result_storage`` or
    ``result_serializer`` is given: then True.
    """
    _check_resolve_args(cache_policy, cache_key_fn)
    if persist_result is not None:
        return persist_result
    wants_records = (
        (bool(cache_policy) and cache_policy != NO_CACHE)
        or cache_key_fn is not None
        or result_storage_key is not None
        or result_storage_given
        or result_serializer_given
    )
    return True if wants_records else None


def resolve_policy(
    cache_policy: Any = NOT_GIVEN,
    cache_key_fn: Callable[[Any, dict[str, Any]], str | None] | None = None,
    persist_result: bool | None = None,
    result_storage_given: bool = False,
    *,
    result_storage_key: str | None = None,
    result_serializer_given: bool = False,
    default_no_cache: bool = False,
    disable_caching: bool = False,
    warn: Callable[[str], object] | None = None,
) -> CachePolicy | None:
    """The policy a task runs with, by Prefect 3.9.1's rules (``Task.__init__``).

    Pass the user's own values (``NOT_GIVEN`` for an absent ``cache_policy``); resolve again
    for ``with_options``, from the user's values merged with the new ones.
    ``default_no_cache`` is PREFECT_TASKS_DEFAULT_NO_CACHE, ``disable_caching``
    PREFECT_TASKS_DISABLE_CACHING (both false by default). In order:

    1. ``default_no_cache`` and no ``cache_policy``: NO_CACHE.
    2. A ``cache_key_fn`` wins: ``CacheKeyFnPolicy(cache_key_fn)``; with a ``cache_policy``
       too, ``warn`` gets "Both `cache_policy` and `cache_key_fn` are set on task ...".
    3. ``persist_result`` is resolved by :func:`resolve_persist_result`.
    4. ``disable_caching``: NO_CACHE.
    5. ``persist_result is False``: NO_CACHE (``None`` if ``cache_policy=None`` was given),
       warning "Ignoring `cache_policy` because `persist_result` is False" for a real policy.
    6. No ``cache_policy`` and no ``result_storage_key``: DEFAULT (INPUTS + TASK_SOURCE +
       RUN_ID), so a plain task has a key; a record is written only when persisting.
    7. A ``result_storage_key`` with any policy but NO_CACHE: ``None`` (the key is then the
       formatted ``result_storage_key``).
    8. Otherwise the given policy (``None`` stays ``None``).

    At run time (Prefect's task engine), for each attempt:

    - key: ``policy.compute_key(task_ctx=..., inputs=<bound arguments, defaults applied,
      futures resolved>, flow_parameters=<the flow run's parameters, {} outside a flow>)``
      for a policy, else ``result_storage_key.format(...)`` if given, else none. An
      exception is logged with "Error encountered when computing cache key - result will
      not be persisted." and the key is ``None``.
    - persisting (write the record on success): the task's resolved ``persist_result`` if
      not None, else PREFECT_TASKS_DEFAULT_PERSIST_RESULT if set, else the enclosing flow
      run's. A flow's is its ``persist_result`` (True when it has ``result_storage`` or
      ``result_serializer``), else its parent run's, else PREFECT_RESULTS_PERSIST_BY_DEFAULT
      (false), else True when a default storage block is set (setting, or the server's).
    - lookup: with a key and no refresh, a record under the key whose ``expiration`` is
      unset or in the future is a hit, whether or not this task persists.
      ``refresh_cache`` (the task's, else PREFECT_TASKS_REFRESH_CACHE) skips the lookup;
      the new result then overwrites the record (when persisting).
    - states: Pending, Running, then on a miss ``Completed`` (data: a record with
      ``storage_key`` = key, ``expiration`` = now + ``cache_expiration``), on a hit
      ``Completed`` named "Cached" (data: the stored record, with its own expiration),
      logged "Finished in state Cached(type=COMPLETED)". The state's message is None and
      its details carry no ``cache_key``/``cache_expiration``; the task run's
      ``cache_key`` and ``cache_expiration`` stay null. The event's ``data`` is the
      record's metadata when persisting, else null.
    """
    _check_resolve_args(cache_policy, cache_key_fn)
    if default_no_cache and cache_policy is NOT_GIVEN:
        cache_policy = NO_CACHE
    if cache_key_fn is not None and cache_policy is not NOT_GIVEN and warn is not None:
        warn(
            "Both `cache_policy` and `cache_key_fn` are set on this task. `cache_key_fn` will be used."
        )
    if cache_key_fn:
        cache_policy = CacheKeyFnPolicy(cache_key_fn=cache_key_fn)
    persist_result = resolve_persist_result(
        cache_policy,
        cache_key_fn,
        persist_result,
        result_storage_given,
        result_storage_key=result_storage_key,
        result_serializer_given=result_serializer_given,
    )
    if disable_caching:
        cache_policy = NO_CACHE
    if persist_result is False:
        if cache_policy and cache_policy != NO_CACHE and warn is not None:
            warn("Ignoring `cache_policy` because `persist_result` is False")
        return None if cache_policy is None else NO_CACHE
    if cache_policy is NOT_GIVEN and result_storage_key is None:
        return DEFAULT
    if cache_policy != NO_CACHE and result_storage_key:
        return None
    return cache_policy if isinstance(cache_policy, CachePolicy) else None
