"""Task caching in the engine: the key of a task run, the lookup before it, the write after.

The key comes from the task's cache policy (``cache_key_fn`` wins, as in Prefect). A hit
is recorded as Prefect records it: Running, then a COMPLETED state named ``Cached``, and
the function is not called. Results live in the task's result store
(:mod:`skiff._engine._results`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from skiff._engine import _results
from skiff._engine._states import Cached, State

if TYPE_CHECKING:
    from skiff._engine._task_engine import TaskRunEngine

__all__ = ["lookup", "store"]


def _key(engine: TaskRunEngine) -> str | None:
    key_fn = engine.task.options.get("cache_key_fn")
    if key_fn is None:
        return None
    key = key_fn(engine.context(), engine.parameters)
    return None if key is None else str(key)


def lookup(engine: TaskRunEngine) -> State | None:
    """A ``Cached`` state when the run's key names a stored, unexpired result."""
    try:
        key = _key(engine)
    except Exception:
        engine.log(
            40,
            "Error encountered when computing cache key - result will not be persisted.",
            exc_info=True,
        )
        return None
    engine.cache_key = key
    if key is None or engine.task.options.get("refresh_cache"):
        return None
    value = engine.task.store.get(key)
    if value is _results.MISSING:
        return None
    return Cached(data=value)


def store(engine: TaskRunEngine, terminal: State) -> None:
    """Keep a completed run's result under its key."""
    key = engine.cache_key
    if key is None or not terminal.is_completed():
        return
    expiration: Any = engine.task.options.get("cache_expiration")
    engine.task.store.put(
        key, terminal.result(), time.time() + expiration if expiration is not None else None
    )
