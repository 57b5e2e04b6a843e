"""Task caching in the engine: a run's key, the lookup before its call, the record after.

Prefect 3.9.1's rules (:func:`skiff._engine._cache.resolve_policy` lists them): the task's
policy gives the key, else its formatted ``result_storage_key`` (Prefect's fields:
``{parameters[x]}``, ``{flow_run.id}``, ``{task_run.name}``, ``{deployment.name}``...). A
stored, unexpired record under the key is a hit, recorded as a COMPLETED state named
``Cached``, and the function is not called; a persisting run writes its record on
success. ``refresh_cache`` (or ``PREFECT_TASKS_REFRESH_CACHE``) skips the lookup and
replaces the record.

A cache never fails a run: a record that is missing, expired, corrupt, written with a
serializer skiff does not read, or pickled without ``SKIFF_ALLOW_PICKLE_RESULTS``, and a
storage that cannot be reached, are each a miss (logged on the run, but for the first two);
a record that cannot be written is logged as Prefect logs it and the run completes.

A persisting run whose policy asks ``isolation_level="SERIALIZABLE"`` holds its key's lock
(:mod:`skiff._engine._record_locks`) from a cache miss until it ends, so overlapping runs
of one key call the function once; the engine gives it up through :func:`release`.

A plain task's key could only ever hit a record some persisting task wrote, so it is not
computed for a task that does not persist (key hashing is most of a cached task's cost);
a task with neither a policy nor a storage key costs one attribute read here.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import TYPE_CHECKING, Any

from skiff._engine import _context, _record_locks, _results
from skiff._engine._policies import DEFAULT
from skiff._engine._states import Cached, State

if TYPE_CHECKING:
    from skiff._engine._result_storage import RecordStorage
    from skiff._engine._task_engine import TaskRunEngine

__all__ = ["lookup", "release", "store"]

_warned_isolation: set[str] = set()


def persists(engine: TaskRunEngine) -> bool:
    """Whether this run writes its result record (the task's setting, else the flow's)."""
    task = engine.task
    if task.persist_result is not None:
        return bool(task.persist_result)
    flow = engine.flow
    return flow is not None and _results.flow_persists(flow.flow.options)


def _option(engine: TaskRunEngine, name: str) -> Any:
    # The task's result option, else its flow's (Prefect's result store inherits them).
    value = engine.task.options.get(name)
    if value is None and engine.flow is not None:
        value = engine.flow.flow.options.get(name)
    return value


def _refresh(engine: TaskRunEngine) -> bool:
    refresh = engine.task.options.get("refresh_cache")
    if refresh is None:
        from skiff._exceptions import ConfigurationError
        from skiff.client._settings import _parse_bool

        raw = os.environ.get("PREFECT_TASKS_REFRESH_CACHE", "false")
        try:
            refresh = _parse_bool("PREFECT_TASKS_REFRESH_CACHE", raw)
        except ConfigurationError as exc:
            engine.log(logging.WARNING, "%s; the cache is not refreshed", exc)
            refresh = False
    return bool(refresh)


def _storage_key(engine: TaskRunEngine, template: str) -> str:
    # Prefect formats it with prefect.runtime's modules and the task run's parameters.
    from skiff.runtime import deployment, flow_run, task_run

    token = _context.task_var.set(engine.context())
    try:
        return template.format(
            deployment=deployment,
            flow_run=flow_run,
            task_run=task_run,
            parameters=engine.parameters,
        )
    finally:
        _context.task_var.reset(token)


def _key(engine: TaskRunEngine) -> str | None:
    task = engine.task
    policy = task.cache_policy
    flow = engine.flow
    try:
        if policy is None:
            return _storage_key(engine, task.options["result_storage_key"])
        key: str | None = policy.compute_key(
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
    return key


def _storage(engine: TaskRunEngine, doing: str) -> RecordStorage | None:
    from skiff._engine._result_storage import resolve_storage

    try:
        return resolve_storage(_option(engine, "result_storage"))
    except Exception as exc:
        engine.log(
            logging.WARNING,
            "skiff could not open the result storage to %s: %s: %s",
            doing,
            type(exc).__name__,
            exc,
        )
        return None


def _read_cached(engine: TaskRunEngine, storage: RecordStorage, key: str) -> State | None:
    where = f"record {key!r} in {storage!r}"
    content = storage.read(key)
    if content is None:
        return None
    metadata, result = _results.parse_record(content, where)
    if _results.is_expired(metadata):
        return None
    value = _results.load_value(metadata, result, where)
    if persists(engine):  # Prefect's events carry a hit's record only then
        engine.record = metadata
    return Cached(data=value)


def lookup(engine: TaskRunEngine) -> State | None:
    """A ``Cached`` state when the run's key names a stored, unexpired, readable record.

    Under a SERIALIZABLE policy a miss takes the key's lock (``engine.lock``, given up by
    :func:`release`) and looks again: a run that held it before may have committed.
    """
    task = engine.task
    policy = task.cache_policy
    if policy is None:
        if task.options.get("result_storage_key") is None:
            return None
    elif policy is DEFAULT and not persists(engine):
        return None
    key = engine.cache_key = _key(engine)
    if key is None or _refresh(engine):
        return None
    storage = _storage(engine, "look up a cached result; the task runs")
    if storage is None:
        return None
    try:
        found = _read_cached(engine, storage, key)
        if found is None and _level(policy) == "SERIALIZABLE" and persists(engine):
            engine.lock = _acquire(engine, storage, key)
            if engine.lock is not None:
                found = _read_cached(engine, storage, key)
                if found is not None:
                    release(engine)
    except Exception as exc:
        engine.log(
            logging.WARNING,
            "skiff could not read the cached result (%s: %s); the task runs",
            type(exc).__name__,
            exc,
        )
        return None
    return found


def _level(policy: Any) -> Any:
    level = getattr(policy, "isolation_level", None)
    return getattr(level, "value", level)


def _seconds(engine: TaskRunEngine, name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    from skiff._exceptions import ConfigurationError
    from skiff.client._settings import _parse_float

    try:
        return _parse_float(name, raw)
    except ConfigurationError as exc:
        engine.log(logging.WARNING, "%s; %s seconds are used", exc, default)
        return default


def _acquire(engine: TaskRunEngine, storage: RecordStorage, key: str) -> _record_locks.Lock | None:
    # The key's lock, or None (logged when it was held too long or could not be asked).
    manager = getattr(engine.task.cache_policy, "lock_manager", None)
    store = _record_locks.lock_store(storage) if manager is None else None
    if manager is None and store is None:
        return None  # _exclusive logs that this storage runs READ_COMMITTED
    lease = _seconds(engine, "SKIFF_CACHE_LOCK_LEASE_SECONDS", _record_locks.DEFAULT_LEASE_SECONDS)
    timeout = engine.task.timeout_seconds
    if timeout is not None and timeout + 30 > lease:
        lease = timeout + 30
    wait = _seconds(engine, "SKIFF_CACHE_LOCK_WAIT_SECONDS", lease)
    if _record_locks.held_in_this_thread(key):
        engine.log(
            logging.WARNING,
            "The lock on cache key %r is held by another run in this thread (an async task "
            "in the same event loop), which a wait would block; the task runs without it",
            key,
        )
        return None
    try:
        lock = _record_locks.acquire(key, store=store, manager=manager, lease=lease, wait=wait)
    except Exception as exc:
        engine.log(
            logging.WARNING,
            "skiff could not take the lock on cache key %r (%s: %s); the task runs without it",
            key,
            type(exc).__name__,
            exc,
        )
        return None
    if lock is None:
        engine.log(
            logging.WARNING,
            "The lock on cache key %r was still held by another run after %s seconds; "
            "the task runs without it",
            key,
            wait,
        )
    return lock


def release(engine: TaskRunEngine) -> None:
    """Give up the run's lock on its cache key, if it holds one (never raising)."""
    lock, engine.lock = engine.lock, None
    if lock is None:
        return
    try:
        lock.release()
    except Exception as exc:
        engine.log(
            logging.WARNING,
            "skiff could not release the lock on cache key %r (%s: %s); it expires with its lease",
            engine.cache_key,
            type(exc).__name__,
            exc,
        )


def _exclusive(engine: TaskRunEngine, storage: RecordStorage) -> bool:
    # Write-once commits where the storage has them, unless told otherwise (module
    # docstring of _result_storage).
    policy = engine.task.cache_policy
    level = _level(policy)
    locked = getattr(policy, "lock_manager", None) is not None
    if level == "SERIALIZABLE" and not storage.serializable and not locked:
        name = repr(storage)
        if name not in _warned_isolation:
            _warned_isolation.add(name)
            engine.log(
                logging.WARNING,
                "%s cannot lock records; isolation_level SERIALIZABLE runs as "
                "READ_COMMITTED there (the last writer wins)",
                name,
            )
    return storage.serializable and level != "READ_COMMITTED" and not _refresh(engine)


def _replaceable(storage: RecordStorage, key: str) -> bool:
    # The record that refused a write-once commit: kept unless expired or unreadable.
    try:
        content = storage.read(key)
        if content is None:
            return True
        metadata, _ = _results.parse_record(content, key)
        return _results.is_expired(metadata)
    except Exception:
        return True


def store(engine: TaskRunEngine, terminal: State) -> None:
    """Write a completed, persisting run's record under its key (its metadata on ``engine.record``)."""
    key = engine.cache_key
    if key is None or not terminal.is_completed() or terminal.name == "Cached":
        return
    if not persists(engine):
        return
    storage = _storage(engine, "persist the result; it is not persisted")
    if storage is None:
        return
    expiration: Any = engine.task.options.get("cache_expiration")
    until = (
        datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expiration)
        if expiration is not None
        else None
    )
    serializer = _option(engine, "result_serializer") or _results.default_serializer()
    value = terminal.result()
    try:
        exclusive = _exclusive(engine, storage)
        metadata, stored = _results.write_record(
            value, storage, key=key, serializer=serializer, expiration=until, exclusive=exclusive
        )
        if not stored and _replaceable(storage, key):
            metadata, _ = _results.write_record(
                value, storage, key=key, serializer=serializer, expiration=until
            )
        engine.record = metadata
    except Exception as exc:
        engine.log(
            logging.WARNING,
            "Encountered an error while persisting result: %s Execution will continue, but"
            " the result has not been persisted",
            exc,
        )
