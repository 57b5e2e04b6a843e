"""``@task`` and :class:`Task`: calling, submitting and mapping task runs.

The lifecycle of a run is in :mod:`skiff._engine._task_engine`; this module only builds
runs from calls. ``task(x)`` runs now, ``task.submit(x)`` on the flow's task runner
(a :class:`~skiff.futures.TaskRunFuture`), ``task.map(xs)`` once per element.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from skiff._engine import _context
from skiff._engine._annotations import BaseAnnotation, unmapped
from skiff._engine._base import task_key_for
from skiff._engine._errors import NotSupportedError
from skiff._engine._futures import FutureList, TaskRunFuture
from skiff._engine._options import check_task_options
from skiff._engine._task_engine import TaskRunEngine, run_task_async, run_task_sync
from skiff._engine._task_runners import default_runner
from skiff._exceptions import ValidationError
from skiff.client._types import NOT_GIVEN

__all__ = ["Task", "task"]

R = TypeVar("R")
_logger = logging.getLogger("prefect.tasks")


def _standalone_reporter() -> Any:
    # A task called outside any flow is reported on its own, as Prefect records it,
    # when an API is configured; without one it just runs.
    from skiff._engine import _reporter
    from skiff.client._settings import Settings

    settings = Settings.load()
    if not settings.reporting or not settings.api_url:
        return None
    return _reporter.get(settings)


def bind_call(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments as a parameters dict, defaults filled in."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def call_with_parameters(
    fn: Callable[..., Any], signature: inspect.Signature, plain: bool, parameters: dict[str, Any]
) -> Any:
    """Call ``fn`` with a parameters dict (``*args``/``**kwargs`` parameters spread back)."""
    if plain:
        return fn(**parameters)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, param in signature.parameters.items():
        if name not in parameters:
            continue
        value = parameters[name]
        if param.kind is param.VAR_POSITIONAL:
            args.extend(value)
        elif param.kind is param.VAR_KEYWORD:
            kwargs.update(value)
        elif param.kind is param.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[name] = value
    return fn(*args, **kwargs)


class Task(Generic[R]):
    """What ``@task`` returns: call it to run the function as a reported task run.

    ``task(x)`` runs now and returns the value; ``task.submit(x)`` returns a
    :class:`~skiff.futures.TaskRunFuture`; ``task.map(xs)`` a list of them;
    ``return_state=True`` returns the final :class:`~skiff.states.State` instead;
    ``wait_for=[...]`` waits for other runs first.
    """

    def __init__(self, fn: Callable[..., R], **options: Any) -> None:
        if not callable(fn):
            raise ValidationError(f"@task needs a function, got {fn!r}")
        self.options = check_task_options(f"@task({getattr(fn, '__name__', fn)!r})", options)
        self.fn = fn
        self.name = str(self.options.get("name") or getattr(fn, "__name__", type(fn).__name__))
        self.description: str | None = self.options.get("description") or inspect.getdoc(fn)
        self.version: str | None = self.options.get("version")
        self.tags: frozenset[str] = frozenset(self.options.get("tags") or ())
        self.sorted_tags = sorted(self.tags)
        self.has_hooks = any(
            self.options.get(k) for k in ("on_completion", "on_failure", "on_running")
        )
        self.retries: int = self.options.get("retries") or 0
        delays = self.options.get("retry_delay_seconds")
        # Prefect evaluates a callable delay once, with the retry count (exponential_backoff).
        self.retry_delay_seconds: Any = delays(self.retries) if callable(delays) else (delays or 0)
        self.timeout_seconds: float | None = self.options.get("timeout_seconds")
        # The empirical_policy every event of this task's runs carries.
        self.event_policy = {
            "max_retries": 0,
            "retry_delay_seconds": 0.0,
            "retries": self.retries,
            "retry_delay": self.retry_delay_seconds,
            "retry_jitter_factor": self.options.get("retry_jitter_factor"),
        }
        from skiff._engine._cache import resolve_persist_result, resolve_policy, task_key

        self.task_key = task_key(fn) or task_key_for(fn)
        choice = {
            "cache_policy": self.options.get("cache_policy", NOT_GIVEN),
            "cache_key_fn": self.options.get("cache_key_fn"),
            "persist_result": self.options.get("persist_result"),
            "result_storage_given": self.options.get("result_storage") is not None,
            "result_storage_key": self.options.get("result_storage_key"),
            "result_serializer_given": self.options.get("result_serializer") is not None,
        }
        self.persist_result: bool | None = resolve_persist_result(**choice)
        self.cache_policy: Any = resolve_policy(**choice, warn=_logger.warning)
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        self._plain = all(
            p.kind is p.POSITIONAL_OR_KEYWORD for p in self._signature.parameters.values()
        )
        self._names = tuple(self._signature.parameters) if self._plain else None
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def source_code(self) -> str | None:
        """The function's source, as Prefect keeps it (what TASK_SOURCE hashes)."""
        from skiff._engine._cache import task_source

        return task_source(self.fn)

    def with_options(self, **options: Any) -> Task[R]:
        """A copy of this task with some options replaced."""
        return Task(self.fn, **{**self.options, **options})

    def _parameters(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self._names
        if names is not None and not kwargs and len(args) == len(names):
            # The common call: every parameter given positionally, nothing to check.
            return dict(zip(names, args, strict=True))
        try:
            return bind_call(self._signature, args, kwargs)
        except TypeError as exc:
            raise ValidationError(f"task {self.name!r}: {exc}") from None

    def _engine(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], wait_for: Any
    ) -> TaskRunEngine:
        reporter = None if _context.flow_var.get() is not None else _standalone_reporter()
        return TaskRunEngine(
            self, self._parameters(args, kwargs), wait_for=wait_for, reporter=reporter
        )

    def call(self, parameters: dict[str, Any]) -> Any:
        """Call the function with a parameters dict (what the engine runs)."""
        return call_with_parameters(self.fn, self._signature, self._plain, parameters)

    def __call__(
        self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any
    ) -> Any:
        """Run the task now; returns its value (a coroutine for an async task)."""
        engine = self._engine(args, kwargs, wait_for)
        if self.is_async:
            return run_task_async(engine, return_state)
        return run_task_sync(engine, return_state)

    def submit(
        self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any
    ) -> Any:
        """Start the task on the flow's task runner; returns a :class:`TaskRunFuture`."""
        engine = self._engine(args, kwargs, wait_for)
        flow = engine.flow
        runner = flow.task_runner if flow is not None else default_runner()
        context = contextvars.copy_context()
        if self.is_async:
            import asyncio

            inner = runner.submit_call(context.run, asyncio.run, run_task_async(engine, True))
        else:
            inner = runner.submit_call(context.run, run_task_sync, engine, True)
        future = TaskRunFuture(engine, inner)
        if flow is not None:
            with flow.lock:
                flow.futures.append(future)
        if return_state:
            future.wait()
            return future.state
        return future

    def map(
        self,
        *args: Any,
        return_state: bool = False,
        wait_for: Any = None,
        deferred: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Submit one run per element of the iterable arguments (``unmapped`` ones repeat)."""
        if deferred:
            raise NotSupportedError("Task.map(deferred=True) needs task workers, which skiff lacks")
        parameters = self._parameters(args, kwargs)

        def mapped(value: Any) -> bool:
            return isinstance(value, Iterable) and not isinstance(
                value, (str, bytes, dict, BaseAnnotation)
            )

        iterables = {k: list(v) for k, v in parameters.items() if mapped(v)}
        lengths = {len(v) for v in iterables.values()}
        if len(lengths) > 1:
            raise ValidationError(
                f"{self.name}.map: the iterable arguments have different lengths {sorted(lengths)}"
            )
        count = lengths.pop() if lengths else 0
        static = {
            k: v.unwrap() if isinstance(v, unmapped) else v
            for k, v in parameters.items()
            if k not in iterables
        }
        futures = FutureList()
        for i in range(count):
            call = {**static, **{k: v[i] for k, v in iterables.items()}}
            futures.append(self._submit_parameters(call, wait_for))
        if return_state:
            futures.wait()
            return [f.state for f in futures]
        return futures

    def _submit_parameters(self, parameters: dict[str, Any], wait_for: Any) -> TaskRunFuture:
        args = tuple(parameters.values()) if self._plain else ()
        if self._plain:
            return self.submit(*args, wait_for=wait_for)  # type: ignore[no-any-return]
        return self.submit(wait_for=wait_for, **parameters)  # type: ignore[no-any-return]

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: deferred runs need Prefect's task workers."""
        raise NotSupportedError("Task.delay() needs Prefect task workers, which skiff lacks")

    def serve(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: serving tasks needs Prefect's task workers."""
        raise NotSupportedError("Task.serve() needs Prefect task workers, which skiff lacks")

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def task(__fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a task: ``@task`` or ``@task(name=..., retries=..., ...)``.

    Takes Prefect 3.9's keyword names (``skiff._engine._options.TASK_OPTIONS``); an
    unknown keyword or a bad value raises :class:`~skiff.ValidationError` here.
    """
    if __fn is None:
        check_task_options("@task", options)
        return functools.partial(task, **options)
    return Task(__fn, **options)
