"""Prefect's cache policies: how a task run's cache key is computed, as Prefect 3.9.1 does.

Every key is :func:`~skiff._engine._hashing.hash_objects` of something: the inputs
(``INPUTS``), the task's source (``TASK_SOURCE``), the flow parameters
(``FLOW_PARAMETERS``), the run id (``RUN_ID``), or the keys of several policies
(``INPUTS + TASK_SOURCE``). ``DEFAULT`` is ``INPUTS + TASK_SOURCE + RUN_ID``; ``NO_CACHE``
has no key. Policies are dataclasses, compared by value as Prefect's are
(``cache_policy != NO_CACHE``). Which policy a task runs with: :mod:`skiff._engine._cache`.
"""

from __future__ import annotations

import copy
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from types import CodeType
from typing import Any

from skiff._engine._hashing import CacheKeyError, HashError, hash_objects
from skiff._exceptions import ValidationError

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NONE",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CachePolicyError",
    "CompoundCachePolicy",
    "FlowParameters",
    "Inputs",
    "RunId",
    "TaskSource",
]

_ISOLATION_LEVELS = ("READ_COMMITTED", "SERIALIZABLE")


class CachePolicyError(ValidationError, TypeError):
    """A cache policy was built or combined wrongly (also a ``TypeError``, as Prefect raises)."""


def _check_settings(policy: CachePolicy) -> None:
    level = policy.isolation_level
    if level is not None and getattr(level, "value", level) not in _ISOLATION_LEVELS:
        raise CachePolicyError(
            f"isolation_level must be 'READ_COMMITTED' or 'SERIALIZABLE', got {level!r}"
        )
    storage = policy.key_storage
    writable = callable(getattr(storage, "write_path", None))
    if storage is not None and not isinstance(storage, (str, os.PathLike)) and not writable:
        raise CachePolicyError(
            f"key_storage must be a folder path, a block slug 'type/name' or a writable "
            f"file system block (with write_path and read_path), got {storage!r}"
        )
    manager = policy.lock_manager
    if manager is not None and not all(
        callable(getattr(manager, name, None)) for name in ("acquire_lock", "release_lock")
    ):
        raise CachePolicyError(
            f"lock_manager must be a lock manager (with acquire_lock and release_lock), "
            f"got {manager!r}"
        )


def _check_policy(other: object, operation: str) -> CachePolicy:
    if not isinstance(other, CachePolicy):
        raise CachePolicyError(
            f"cannot {operation} {other!r} (a {type(other).__name__}) to a cache policy: "
            "only cache policies combine with '+' (e.g. INPUTS + TASK_SOURCE)"
        )
    return other


def _check_name(other: object) -> str:
    if not isinstance(other, str):
        raise CachePolicyError(
            f"Can only subtract strings from key policies (an input's name, as in "
            f'INPUTS - "x"), got {other!r}'
        )
    return other


@dataclass
class CachePolicy:
    """Base of every cache policy: how a task run's cache key is computed.

    ``key_storage``, ``isolation_level`` and ``lock_manager`` are kept for the engine (where
    the keys' records live, and locking); combine policies with ``+`` and drop an input
    with ``-``, as in Prefect.
    """

    key_storage: Any = None
    isolation_level: Any = None
    lock_manager: Any = None

    def __post_init__(self) -> None:
        _check_settings(self)

    @classmethod
    def from_cache_key_fn(
        cls, cache_key_fn: Callable[[Any, dict[str, Any]], str | None]
    ) -> CacheKeyFnPolicy:
        """A policy whose key is ``cache_key_fn(task_run_context, inputs)``."""
        return CacheKeyFnPolicy(cache_key_fn=cache_key_fn)

    def configure(
        self,
        key_storage: Any = None,
        lock_manager: Any = None,
        isolation_level: Any = None,
    ) -> Any:
        """A copy with the given key storage, lock manager and isolation level (None: kept)."""
        new = copy.deepcopy(self)
        if key_storage is not None:
            new.key_storage = key_storage
        if lock_manager is not None:
            new.lock_manager = lock_manager
        if isolation_level is not None:
            new.isolation_level = isolation_level
        _check_settings(new)
        return new

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The cache key for this task run, or ``None`` when this policy has none."""
        raise NotImplementedError

    def __sub__(self, other: str) -> CachePolicy:
        # Only Inputs (and compounds holding it) depend on named inputs.
        _check_name(other)
        return self

    def __add__(self, other: CachePolicy) -> CachePolicy:
        other = _check_policy(other, "add")
        if isinstance(other, _None):
            return self
        for attr, what in (
            ("key_storage", "storage locations"),
            ("isolation_level", "isolation levels"),
            ("lock_manager", "lock implementations"),
        ):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if mine is not None and theirs is not None and mine != theirs:
                raise CachePolicyError(f"Cannot add CachePolicies with different {what}.")
        return CompoundCachePolicy(
            policies=[self, other],
            key_storage=self.key_storage or other.key_storage,
            isolation_level=self.isolation_level or other.isolation_level,
            lock_manager=self.lock_manager or other.lock_manager,
        )


@dataclass
class CacheKeyFnPolicy(CachePolicy):
    """The key is ``cache_key_fn(task_run_context, inputs)`` (what ``cache_key_fn=`` makes)."""

    cache_key_fn: Callable[[Any, dict[str, Any]], str | None] | None = None

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """``cache_key_fn(task_ctx, inputs)``."""
        if self.cache_key_fn:
            return self.cache_key_fn(task_ctx, inputs)
        return None


@dataclass
class CompoundCachePolicy(CachePolicy):
    """Several policies: the key hashes their keys in order, skipping ``None`` ones.

    Nested compounds are flattened and all ``Inputs`` merge into one, last, whose
    ``exclude`` is the sorted union.
    """

    policies: list[CachePolicy] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        flat: list[CachePolicy] = []
        for policy in self.policies:
            _check_policy(policy, "add")
            flat.extend(policy.policies if isinstance(policy, CompoundCachePolicy) else [policy])
        excludes: set[str] = set()
        merged = [p for p in flat if isinstance(p, Inputs)]
        for inputs in merged:
            excludes.update(inputs.exclude)
        self.policies = [p for p in flat if not isinstance(p, Inputs)]
        if merged:
            self.policies.append(Inputs(exclude=sorted(excludes)))

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The hash of every member's key, in order; ``None`` when none has a key."""
        keys = []
        for policy in self.policies:
            key = policy.compute_key(
                task_ctx=task_ctx, inputs=inputs, flow_parameters=flow_parameters, **kwargs
            )
            if key is not None:
                keys.append(key)
        if not keys:
            return None
        return hash_objects(*keys, raise_on_failure=True)

    def __add__(self, other: CachePolicy) -> CachePolicy:
        other = _check_policy(other, "add")
        super().__add__(other)  # checks that the settings agree
        extra = other.policies if isinstance(other, CompoundCachePolicy) else [other]
        return CompoundCachePolicy(
            policies=[*self.policies, *extra],
            key_storage=self.key_storage or other.key_storage,
            isolation_level=self.isolation_level or other.isolation_level,
            lock_manager=self.lock_manager or other.lock_manager,
        )

    def __sub__(self, other: str) -> CachePolicy:
        name = _check_name(other)
        if any(isinstance(p, Inputs) for p in self.policies):
            return replace(self, policies=[*self.policies, Inputs(exclude=[name])])
        return self


@dataclass
class _None(CachePolicy):
    """No key at all: no caching and no persisted record (``NO_CACHE``)."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Always ``None``."""
        return None

    def __add__(self, other: CachePolicy) -> CachePolicy:
        return _check_policy(other, "add")


def _normalize_code_location(code: CodeType) -> CodeType:
    """The code object without its file and line positions (also in nested code)."""
    return code.replace(
        co_filename="",
        co_firstlineno=1,
        co_linetable=b"",
        co_consts=tuple(
            _normalize_code_location(c) if isinstance(c, CodeType) else c for c in code.co_consts
        ),
    )


@dataclass
class TaskSource(CachePolicy):
    """The key hashes the task function's source lines (its decorator lines included)."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any] | None,
        flow_parameters: dict[str, Any] | None,
        **kwargs: Any,
    ) -> str | None:
        """``hash_objects(source)``: the source stored on the task, else read now."""
        if not task_ctx:
            return None
        lines = getattr(task_ctx.task, "source_code", None)
        if lines is not None:
            return hash_objects(lines, raise_on_failure=True)
        fn = task_ctx.task.fn
        try:
            # Prefect reads the Task, which unwraps to the same function.
            lines = inspect.getsource(fn)
        except TypeError:
            lines = inspect.getsource(fn.__class__)
        except OSError as exc:
            if "source code" not in str(exc):
                raise
            return hash_objects(_normalize_code_location(fn.__code__), raise_on_failure=True)
        return hash_objects(lines, raise_on_failure=True)


@dataclass
class FlowParameters(CachePolicy):
    """The key hashes the flow run's parameters (``None`` when it has none)."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """``hash_objects(flow_parameters)``."""
        if not flow_parameters:
            return None
        return hash_objects(flow_parameters, raise_on_failure=True)


@dataclass
class RunId(CachePolicy):
    """The key is the flow run's id, or the task run's own for a standalone task run."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """``str(flow_run_id)``, else ``str(task_run.id)``."""
        if not task_ctx:
            return None
        task_run = task_ctx.task_run
        run_id = task_run.flow_run_id
        if run_id is None and getattr(task_run, "flow_run", None) is not None:
            # Falling back to the task run's id would key this run as if it were standalone.
            raise CacheKeyError(
                "RUN_ID needs the flow run's id, which the server has not given yet (its "
                "create is still buffered); this task run is not cached"
            )
        if run_id is None:
            run_id = task_run.id
        return str(run_id)


def _stable_transform(value: Any) -> Any:
    # Prefect's STABLE_TRANSFORMS: only for modules the program has imported itself.
    pandas = sys.modules.get("pandas")
    if pandas is not None and type(value) is pandas.DataFrame:
        return (list(value.columns), [value.iloc[:, i] for i in range(len(value.columns))])
    return value


@dataclass
class Inputs(CachePolicy):
    """The key hashes the task's inputs, except those named in ``exclude``."""

    exclude: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.exclude = _check_exclude(self.exclude)

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """``hash_objects({name: value})`` of the inputs kept; ``None`` with no inputs."""
        if not inputs:
            return None
        kept = {k: _stable_transform(v) for k, v in inputs.items() if k not in self.exclude}
        try:
            return hash_objects(kept, raise_on_failure=True)
        except HashError as exc:
            raise HashError(
                f"{exc}\n\nThis often occurs when task inputs contain objects that cannot be "
                "cached like locks, file handles, or other system resources.\n\n"
                "To resolve this, you can:\n"
                "  1. Exclude these arguments by defining a custom `cache_key_fn`\n"
                "  2. Disable caching by passing `cache_policy=NO_CACHE`\n"
            ) from exc

    def __sub__(self, other: str) -> CachePolicy:
        return replace(self, exclude=[*self.exclude, _check_name(other)])


def _check_exclude(exclude: object) -> list[str]:
    if isinstance(exclude, (str, bytes)) or not isinstance(exclude, Iterable):
        raise CachePolicyError(
            f"Inputs(exclude=...) takes a list of input names, got {exclude!r}"
            + (f"; write exclude=[{exclude!r}]" if isinstance(exclude, str) else "")
        )
    names = list(exclude)
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise CachePolicyError(f"Inputs(exclude=...) takes input names (str), got {bad!r}")
    return names


INPUTS = Inputs()
NONE = _None()
NO_CACHE = _None()
TASK_SOURCE = TaskSource()
FLOW_PARAMETERS = FlowParameters()
RUN_ID = RunId()
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID
