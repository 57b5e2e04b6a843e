"""Task caching in the engine: a run's key, the lookup before its call, the record after.

Prefect 3.9.1's rules (:func:`skiff._engine._cache.resolve_policy` lists them): the task's
policy gives the key; a stored, unexpired record under the key is a hit, recorded as a
COMPLETED state named ``Cached``, and the function is not called; a persisting run writes
its record on success. A plain task's key could only ever hit a record some persisting
task wrote, so it is not computed for a task that does not persist (the helper's
measurement: key hashing is most of a cached task's overhead).
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from skiff._engine import _results
from skiff._engine._policies import DEFAULT
from skiff._engine._states import Cached, State

if TYPE_CHECKING:
    from skiff._engine._task_engine import TaskRunEngine

__all__ = ["lookup", "store"]


def persists(engine: TaskRunEngine) -> bool:
    """Whether this run writes its result record (the task's setting, else the flow's)."""
    task = engine.task
    if task.persist_result is not None:
        return bool(task.persist_result)
    flow = engine.flow
    return bool(flow is not None and flow.flow.options.get("persist_result"))


def lookup(engine: TaskRunEngine) -> State | None:
    """A ``Cached`` state when the run's key names a stored, unexpired record."""
    task = engine.task
    policy = task.cache_policy
    if policy is None or (policy is DEFAULT and not persists(engine)):
        return None
    flow = engine.flow
    try:
        key = policy.compute_key(
            task_ctx=engine.context(),
            inputs=engine.parameters,
            flow_parameters=flow.parameters if flow is not None else {},
        )
    except Exception:
        engine.log(
            logging.ERROR,
            "Error encountered when computing cache key - result will not be persisted.",
            exc_info=True,
        )
        return None
    engine.cache_key = key
    if key is None or task.options.get("refresh_cache"):
        return None
    value = _results.read_record(key, task.options.get("result_storage"))
    if value is _results.MISSING:
        return None
    return Cached(data=value)


def store(engine: TaskRunEngine, terminal: State) -> None:
    """Write a completed, persisting run's record under its key."""
    key = engine.cache_key
    if key is None or not terminal.is_completed() or terminal.name == "Cached":
        return
    if not persists(engine):
        return
    task = engine.task
    expiration: Any = task.options.get("cache_expiration")
    until = (
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expiration)
        if expiration is not None
        else None
    )
    _results.write_record(
        terminal.result(),
        key=key,
        storage=task.options.get("result_storage"),
        serializer=task.options.get("result_serializer") or "pickle",
        expiration=until,
    )
