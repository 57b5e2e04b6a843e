"""Tasks: ``@task``, task runs, their futures, and the task-run events sent for them.

Events per task run (the recorder's throughput, ~140 events/s on SQLite, is what bounds
how fast the UI catches up, so this is a budget). Measured on Prefect 3.9.1 for a flow of
1000 tasks, until the server showed all of them COMPLETED: 21.6 s at 3 events per task
(Prefect's Pending, Running, Completed), 14.4 s at 2, 7.3 s at 1.

skiff queues a Running event when a task starts and its final event when it ends, but the
Running event is *coalesced*: if the task has already moved on when the reporter gets to
it, it is not sent, and the final event alone carries the whole run (``start_time``,
``end_time``, ``run_count``, ``task_inputs``). The reporter sends every
``flush_interval`` (2 s) or when a flow ends, so:

* a task shorter than the time its Running event waits in the buffer costs ONE event;
  the server then records one state (the final one) and the UI shows the run with its
  correct start/end time and duration, just without a Running row in its history;
* a longer task costs TWO (Running while it runs, so the UI shows it live, then final).

Pending is never sent (it carries nothing the Running or final event does not). Retry
states (``AwaitingRetry``, ``Retrying``) are always sent, since they record the failure.
The task run that stands for a subflow call is created with ``POST /task_runs/``: the
server must know it before the child flow run names it as ``parent_task_run_id``, and
from then on the server itself mirrors the child's states onto it.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from skiff._engine import _context, _results
from skiff._engine._items import EVENT_SIZE, FINAL_TASK_EVENT, TASK_EVENT, Item, run_id
from skiff._engine._options import check_options
from skiff._engine._states import (
    Cached,
    Completed,
    Failed,
    Pending,
    Running,
    State,
    StateType,
    TimedOut,
    utcnow,
)
from skiff._engine._timeouts import RunTimeoutError, async_deadline, deadline

if TYPE_CHECKING:
    import concurrent.futures

__all__ = ["Task", "TaskRunFuture", "FutureList", "task", "unmapped"]

R = TypeVar("R")


# Every task run starts from this one shared state (it is never sent on its own).
_PENDING = Pending()


def task_key_for(fn: Callable[..., Any]) -> str:
    """``<function name>-<8 hex digits of its code>``, the shape Prefect uses."""
    code = getattr(fn, "__code__", None)
    digest = hashlib.md5(
        (getattr(fn, "__qualname__", repr(fn)) + repr(code.co_code if code else fn)).encode(),
        usedforsecurity=False,
    ).hexdigest()
    return f"{getattr(fn, '__name__', type(fn).__name__)}-{digest[:8]}"


def format_run_name(template: Any, parameters: dict[str, Any]) -> str:
    """A run name from a template (``"run-{x}"`` with the run's parameters) or a callable."""
    if callable(template):
        try:
            value = template(parameters)
        except TypeError:
            value = template()
        return str(value)
    return str(template).format(**parameters)


def backoff_for(attempt: int, delays: Any, jitter: float | None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the delay list repeats its last value."""
    if isinstance(delays, list):
        delay = float(delays[min(attempt, len(delays) - 1)])
    else:
        delay = float(delays or 0)
    if jitter and delay > 0:
        # Spread retries of many runs apart: up to ``jitter`` times the delay either way.
        delay = max(0.0, delay * (1 + jitter * (2 * random.random() - 1)))
    return delay


class unmapped(Generic[R]):
    """Wrap an argument of :meth:`Task.map` so it is passed whole to every call."""

    def __init__(self, value: R) -> None:
        self.value = value


class TaskRunFuture:
    """A submitted task run: ``.result()``, ``.wait()``, ``.state`` and ``.task_run_id``.

    Sync tasks run on a thread pool, async ones as asyncio tasks on the running loop
    (``await future`` there; ``.result()`` works once it is done, or from other threads).
    """

    __slots__ = ("_async", "_future", "_run")

    def __init__(self, run: _TaskRun, future: Any, is_async: bool) -> None:
        self._run = run
        self._future = future
        self._async = is_async

    @property
    def task_run_id(self) -> uuid.UUID:
        """The task run's id (known at submit time)."""
        return uuid.UUID(self._run.id)

    @property
    def state(self) -> State:
        """The task run's current state (final once it is done)."""
        return self._run.state

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run is over (or ``timeout`` seconds passed)."""
        if self._async:
            if not self._future.done():
                self._wait_async(timeout)
            return
        import concurrent.futures

        concurrent.futures.wait([self._future], timeout=timeout)

    def _wait_async(self, timeout: float | None) -> None:
        import threading

        loop = self._future.get_loop()
        if loop.is_running() and getattr(loop, "_thread_id", None) == threading.get_ident():
            raise RuntimeError("this future belongs to the running event loop: use `await future`")
        done = threading.Event()
        loop.call_soon_threadsafe(lambda: self._future.add_done_callback(lambda _f: done.set()))
        done.wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The task's return value; raises its exception if it failed."""
        self.wait(timeout)
        if not self._run.state.is_final():
            raise TimeoutError(f"task run {self._run.name!r} is not finished after {timeout} s")
        return self._run.state.result(raise_on_failure=raise_on_failure)

    def __await__(self) -> Any:
        return self._result_async().__await__()

    async def _result_async(self) -> Any:
        import asyncio

        await (self._future if self._async else asyncio.wrap_future(self._future))
        return self._run.state.result()

    def __repr__(self) -> str:
        return f"TaskRunFuture({self._run.name!r}, state={self._run.state!r})"


class FutureList(list):  # type: ignore[type-arg]
    """The futures :meth:`Task.map` returns; ``.result()`` gives every result in order."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every future."""
        for future in self:
            future.wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        """Every result, in submission order."""
        return [f.result(timeout, raise_on_failure) for f in self]


def _edges(
    value: Any, flow: _context.FlowRunContext | None, depth: int = 0
) -> list[dict[str, str]]:
    # Upstream task runs behind an argument: a future, or a value a task returned.
    if isinstance(value, TaskRunFuture):
        return [{"input_type": "task_run", "id": value._run.id}]
    if flow is not None:
        found = flow.results.get(id(value))
        if found is not None and found[0] is value:
            return [{"input_type": "task_run", "id": found[1]}]
    if depth == 0 and isinstance(value, (list, tuple, set)):
        edges: list[dict[str, str]] = []
        for item in value:
            for edge in _edges(item, flow, 1):
                if edge not in edges:
                    edges.append(edge)
        return edges
    return []


def _resolve(value: Any) -> Any:
    # Futures passed as arguments become their results (one level into collections).
    if isinstance(value, TaskRunFuture):
        return value.result()
    if isinstance(value, list) and any(isinstance(v, TaskRunFuture) for v in value):
        return [_resolve(v) for v in value]
    if isinstance(value, tuple) and any(isinstance(v, TaskRunFuture) for v in value):
        return tuple(_resolve(v) for v in value)
    return value


def _remember(flow: _context.FlowRunContext | None, value: Any, task_run_id: str) -> None:
    # Small ints, bools and None are shared objects: an edge from them would be a guess.
    if flow is None or value is None or isinstance(value, (bool, int, float)):
        return
    flow.results[id(value)] = (value, task_run_id)


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class _TaskRun:
    """One task run's bookkeeping and the events that report it."""

    __slots__ = (
        "cache_key",
        "expected",
        "flow",
        "id",
        "inputs",
        "name",
        "parameters",
        "run_count",
        "start",
        "state",
        "tags",
        "task",
    )

    def __init__(
        self, task: Task[Any], flow: _context.FlowRunContext | None, parameters: dict[str, Any]
    ) -> None:
        self.task = task
        self.flow = flow
        self.parameters = parameters
        self.id = str(uuid.uuid4())
        self.state: State = _PENDING
        self.expected = utcnow()
        self.start: datetime.datetime | None = None
        self.run_count = 0
        self.cache_key: str | None = None
        template = task.options.get("task_run_name")
        self.name = (
            format_run_name(template, parameters) if template else f"{task.name}-{self.id[:3]}"
        )
        self.tags = list(task.tags) if flow is None else sorted(set(task.tags) | set(flow.tags))
        self.inputs = {key: _edges(value, flow) for key, value in parameters.items()}

    # ------------------------------------------------------------- reporting
    def set_state(self, state: State, *, coalesce: bool = False) -> None:
        """Make ``state`` current and queue its event (a coalescable one may be skipped)."""
        previous = self.state
        self.state = state
        flow = self.flow
        if flow is None or flow.reporter is None:
            return
        snapshot = (
            state,
            previous,
            self.run_count,
            self.start,
            utcnow() if state.is_final() else None,
        )

        def build() -> dict[str, Any]:
            return self._event(*snapshot)

        def superseded() -> bool:
            return self.state is not state

        flow.reporter.put(
            Item(
                "event",
                FINAL_TASK_EVENT if state.is_final() else TASK_EVENT,
                build,
                EVENT_SIZE,
                skip=superseded if coalesce else None,
            )
        )

    def _event(
        self,
        state: State,
        previous: State,
        run_count: int,
        start: datetime.datetime | None,
        end: datetime.datetime | None,
    ) -> dict[str, Any]:
        assert self.flow is not None
        run = self.flow.run
        flow_run_id = run_id(run)
        task = self.task
        stamp = state.timestamp.isoformat()
        details = dict(state.details)
        if self.cache_key is not None:
            details.setdefault("cache_key", self.cache_key)
        task_run: dict[str, Any] = {
            "name": self.name,
            "task_key": task.task_key,
            "dynamic_key": self.id,
            "task_version": task.options.get("version"),
            "empirical_policy": {
                "max_retries": 0,
                "retry_delay_seconds": 0.0,
                "retries": task.retries,
                "retry_delay": task.options.get("retry_delay_seconds"),
                "retry_jitter_factor": task.options.get("retry_jitter_factor"),
            },
            "tags": self.tags,
            "labels": {},
            "task_inputs": self.inputs,
            "run_count": run_count,
            "flow_run_run_count": 1,
            "expected_start_time": self.expected.isoformat(),
            "start_time": _iso(start),
            "end_time": _iso(end),
            "total_run_time": (end - start).total_seconds() if start and end else 0.0,
        }
        if self.cache_key is not None:
            task_run["cache_key"] = self.cache_key
        related = [
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": run.name or "",
            }
        ]
        if run.flow_id:
            related.append(
                {
                    "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": self.flow.flow.name,
                }
            )
        related.extend(
            {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
            for tag in self.tags
        )
        return {
            "id": str(state.id),
            "occurred": stamp,
            "event": f"prefect.task-run.{state.name}",
            "resource": {
                "prefect.resource.id": f"prefect.task-run.{self.id}",
                "prefect.resource.name": self.name,
                "prefect.run-count": str(run_count),
                "prefect.state-message": state.message or "",
                "prefect.state-name": state.name,
                "prefect.state-timestamp": stamp,
                "prefect.state-type": state.type.value,
                "prefect.orchestration": "client",
            },
            "related": related,
            "payload": {
                "intended": {"from": previous.type.value, "to": state.type.value},
                "initial_state": {"type": previous.type.value, "name": previous.name},
                "validated_state": {
                    "type": state.type.value,
                    "name": state.name,
                    "message": state.message or "",
                    "state_details": details,
                    "data": None,
                },
                "task_run": task_run,
            },
        }

    # ------------------------------------------------------------- lifecycle
    def context(self) -> _context.TaskRunContext:
        """The context object user code and ``cache_key_fn`` see."""
        log_prints = self.task.options.get("log_prints")
        if log_prints is None:
            log_prints = self.flow.log_prints if self.flow is not None else False
        info = _context.TaskRun(
            uuid.UUID(self.id),
            self.name,
            self.task.name,
            self.task.task_key,
            self.flow.flow_run if self.flow is not None else None,
            self.parameters,
            self.tags,
        )
        info.run_count = self.run_count
        return _context.TaskRunContext(
            self.task, info, self.parameters, self.flow, bool(log_prints)
        )

    def cached(self, ctx: _context.TaskRunContext) -> State | None:
        """A ``Cached`` state when ``cache_key_fn`` names a stored, unexpired result."""
        key_fn = self.task.options.get("cache_key_fn")
        if key_fn is None:
            return None
        key = key_fn(ctx, self.parameters)
        if key is None:
            return None
        self.cache_key = str(key)
        value = self.task.store.get(self.cache_key)
        if value is _results.MISSING:
            return None
        return Cached(value)

    def begin_attempt(self) -> None:
        """Enter Running (or Retrying) before the function is called."""
        self.run_count += 1
        if self.start is None:
            self.start = utcnow()
            self.set_state(Running(), coalesce=True)
        else:
            self.set_state(Running(name="Retrying"))

    def retry_after(self, error: BaseException) -> float | None:
        """After a failed attempt: seconds to wait before the next one, or None when out of retries."""
        if self.run_count > self.task.retries:
            return None
        delay = backoff_for(
            self.run_count - 1,
            self.task.options.get("retry_delay_seconds"),
            self.task.options.get("retry_jitter_factor"),
        )
        when = utcnow() + datetime.timedelta(seconds=delay)
        awaiting = State(
            StateType.SCHEDULED,
            "AwaitingRetry",
            f"Retry {self.run_count}/{self.task.retries} after {type(error).__name__}: {error}",
            details={"scheduled_time": when.isoformat()},
        )
        self.set_state(awaiting)
        return delay

    def succeeded(self, value: Any) -> State:
        """Record the return value: Completed (and cached when a key was computed)."""
        key = self.cache_key
        if key is not None:
            expiration = self.task.options.get("cache_expiration")
            self.task.store.put(
                key, value, time.time() + expiration if expiration is not None else None
            )
        return self.finish(Completed(value))

    def failed(self, error: BaseException) -> State:
        """Record the exception: TimedOut for a timeout, else Failed."""
        if isinstance(error, RunTimeoutError):
            return self.finish(
                TimedOut(
                    error,
                    message=f"Task run exceeded timeout of {self.task.options['timeout_seconds']} second(s)",
                )
            )
        return self.finish(
            Failed(
                error, message=f"Task run encountered an exception {type(error).__name__}: {error}"
            )
        )

    def finish(self, state: State) -> State:
        """Send the final state, remember the result for later edges, run the hooks."""
        self.set_state(state)
        if state.is_completed():
            _remember(self.flow, state._data, self.id)
        hooks = self.task.options.get("on_completion" if state.is_completed() else "on_failure")
        for hook in hooks or ():
            try:
                hook(self.task, self, state)
            except Exception:
                import logging

                logging.getLogger("skiff").exception("task hook %r failed", hook)
        return state


def _call_sync(run: _TaskRun, args: tuple[Any, ...], kwargs: dict[str, Any]) -> State:
    task = run.task
    ctx = run.context()
    token = _context.task_var.set(ctx)
    try:
        if ctx.log_prints:
            from skiff._engine._logging import install_print_hook

            install_print_hook()
        try:
            hit = run.cached(ctx)
        except Exception as exc:
            return run.failed(exc)
        if hit is not None:
            return run.finish(hit)
        if any(isinstance(a, (TaskRunFuture, list, tuple)) for a in args):
            args = tuple(_resolve(a) for a in args)
        if kwargs:
            kwargs = {k: _resolve(v) for k, v in kwargs.items()}
        timeout = task.options.get("timeout_seconds")
        while True:
            run.begin_attempt()
            try:
                if timeout is None:
                    value = task.fn(*args, **kwargs)
                else:
                    with deadline(timeout):
                        value = task.fn(*args, **kwargs)
            except Exception as exc:
                delay = run.retry_after(exc)
                if delay is None:
                    return run.failed(exc)
                if delay:
                    time.sleep(delay)
                continue
            return run.succeeded(value)
    finally:
        _context.task_var.reset(token)


async def _call_async(run: _TaskRun, args: tuple[Any, ...], kwargs: dict[str, Any]) -> State:
    import asyncio

    task = run.task
    ctx = run.context()
    token = _context.task_var.set(ctx)
    try:
        if ctx.log_prints:
            from skiff._engine._logging import install_print_hook

            install_print_hook()
        try:
            hit = run.cached(ctx)
        except Exception as exc:
            return run.failed(exc)
        if hit is not None:
            return run.finish(hit)
        resolved_args = [await a if isinstance(a, TaskRunFuture) else a for a in args]
        resolved_kwargs = {
            k: await v if isinstance(v, TaskRunFuture) else v for k, v in kwargs.items()
        }
        timeout = task.options.get("timeout_seconds")
        while True:
            run.begin_attempt()
            try:
                value = await async_deadline(task.fn(*resolved_args, **resolved_kwargs), timeout)
            except Exception as exc:
                delay = run.retry_after(exc)
                if delay is None:
                    return run.failed(exc)
                if delay:
                    await asyncio.sleep(delay)
                continue
            return run.succeeded(value)
    finally:
        _context.task_var.reset(token)


_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        import concurrent.futures

        _pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="skiff-task")
    return _pool


class Task(Generic[R]):
    """What ``@task`` returns: call it to run the function as a reported task run.

    ``task(x)`` runs now and returns the value; ``task.submit(x)`` returns a
    :class:`TaskRunFuture`; ``task.map(xs)`` a :class:`FutureList`; ``return_state=True``
    returns the final :class:`~skiff._engine.State` instead of the value.
    """

    def __init__(self, fn: Callable[..., R], **options: Any) -> None:
        if not callable(fn):
            from skiff._exceptions import ValidationError

            raise ValidationError(f"@task needs a function, got {fn!r}")
        self.options = check_options(f"@task({getattr(fn, '__name__', fn)!r})", options)
        self.fn = fn
        self.name = str(self.options.get("name") or getattr(fn, "__name__", type(fn).__name__))
        self.tags: tuple[str, ...] = self.options.get("tags") or ()
        self.retries: int = self.options.get("retries") or 0
        self.task_key = task_key_for(fn)
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in self._signature.parameters.values())
        self._plain_names = tuple(self._signature.parameters) if plain else None
        if self.options.get("persist_result") or self.options.get("result_storage"):
            self.store = _results.folder_store(self.options.get("result_storage"))
        else:
            self.store = _results.default_store
        functools.update_wrapper(self, fn)

    def with_options(self, **options: Any) -> Task[R]:
        """A copy of this task with some options replaced."""
        return Task(self.fn, **{**self.options, **options})

    def _parameters(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self._plain_names
        if names is not None and not kwargs and len(args) == len(names):
            # The common call: every parameter given positionally, nothing to check.
            return dict(zip(names, args, strict=True))
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def _new_run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _TaskRun:
        return _TaskRun(self, _context.flow_var.get(), self._parameters(args, kwargs))

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
        """Run the task now; returns its value (or a coroutine for an async task)."""
        run = self._new_run(args, kwargs)
        if self.is_async:
            return self._await(run, args, kwargs, return_state)
        state = _call_sync(run, args, kwargs)
        return state if return_state else state.result()

    async def _await(
        self, run: _TaskRun, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
    ) -> Any:
        state = await _call_async(run, args, kwargs)
        return state if return_state else state.result()

    def submit(self, *args: Any, **kwargs: Any) -> TaskRunFuture:
        """Start the task concurrently and return a :class:`TaskRunFuture`."""
        import contextvars

        run = self._new_run(args, kwargs)
        if self.is_async:
            import asyncio

            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                future: Any = _executor().submit(
                    contextvars.copy_context().run, asyncio.run, _call_async(run, args, kwargs)
                )
                handle = TaskRunFuture(run, future, False)
            else:
                handle = TaskRunFuture(run, loop.create_task(_call_async(run, args, kwargs)), True)
        else:
            future = _executor().submit(
                contextvars.copy_context().run, _call_sync, run, args, kwargs
            )
            handle = TaskRunFuture(run, future, False)
        flow = run.flow
        if flow is not None:
            with flow.lock:
                flow.futures.append(handle)
        return handle

    def map(self, *args: Any, **kwargs: Any) -> FutureList:
        """Submit one run per element of the iterable arguments (others, and ``unmapped``, are repeated)."""

        def mapped(value: Any) -> bool:
            return isinstance(value, Iterable) and not isinstance(
                value, (str, bytes, dict, unmapped)
            )

        lengths = {len(list(v)) for v in [*args, *kwargs.values()] if mapped(v)}
        if len(lengths) > 1:
            from skiff._exceptions import ValidationError

            raise ValidationError(
                f"{self.name}.map: the iterable arguments have different lengths {sorted(lengths)}"
            )
        count = lengths.pop() if lengths else 0
        arg_lists = [list(a) if mapped(a) else None for a in args]
        kw_lists = {k: list(v) if mapped(v) else None for k, v in kwargs.items()}

        def plain(value: Any) -> Any:
            return value.value if isinstance(value, unmapped) else value

        futures = FutureList()
        for i in range(count):
            call_args = [
                lst[i] if lst is not None else plain(a)
                for lst, a in zip(arg_lists, args, strict=False)
            ]
            call_kwargs = {
                k: (lst[i] if lst is not None else plain(kwargs[k])) for k, lst in kw_lists.items()
            }
            futures.append(self.submit(*call_args, **call_kwargs))
        return futures

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


def task(__fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a task: ``@task`` or ``@task(name=..., retries=..., ...)``.

    Takes Prefect's keyword names (see :data:`skiff._engine._options.FLOW_OPTIONS`); an
    unknown keyword or a bad value raises :class:`~skiff.ValidationError` here.
    """
    if __fn is None:
        check_options("@task", options)
        return functools.partial(task, **options)
    return Task(__fn, **options)
