"""The task engine: one task run's lifecycle, shared by the sync and async drivers.

The shape is Prefect's ``task_engine.py``: ``start()`` (Pending, resolve the inputs,
Running), a loop while the run is running (wait out a retry delay, ``run_context()``
around one call, ``handle_success``/``handle_exception``/``handle_timeout``), and the
final state. The drivers at the bottom are the only code that differs between sync and
async tasks.

What it reports: one task-run state event per state, as Prefect's engine emits them
(Pending, Running, then AwaitingRetry/Retrying per retry and the final state), and
Prefect's engine log lines on ``prefect.task_runs``. Events go through the reporter's
buffer (:mod:`skiff._engine._task_events`); nothing here waits for the network.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from skiff._engine import _context, _futures, _task_cache
from skiff._engine._base import format_run_name, jittered, retry_delay
from skiff._engine._errors import FlowRunCancelled, UpstreamTaskError
from skiff._engine._hooks import run_hooks
from skiff._engine._ids import new_id
from skiff._engine._logging import patch_print, task_run_logger
from skiff._engine._states import (
    AwaitingRetry,
    Completed,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    utcnow,
)
from skiff._engine._tags import current_tags
from skiff._engine._task_events import queue_event
from skiff._engine._timeouts import TaskRunTimeoutError, async_deadline, deadline

if TYPE_CHECKING:
    from skiff._engine import _record_locks
    from skiff._engine._reporter import Reporter
    from skiff._engine._tasks import Task

__all__ = ["TaskRunEngine", "run_task_async", "run_task_sync"]

_NO_LIMITS = contextlib.nullcontext()
_RETRY_LINE = "Task run failed with %s: %r - Retry %s/%s will start %s"


class TaskRunEngine:
    """One task run from Pending to its final state."""

    def __init__(
        self,
        task: Task[Any],
        parameters: dict[str, Any],
        *,
        wait_for: Any = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.task = task
        self.flow = _context.flow_var.get()
        if self.flow is not None and self.flow.run.cancel_requested:
            raise FlowRunCancelled(f"flow run {self.flow.run.id} is being cancelled")
        parent_task = _context.task_var.get()
        self.parameters = parameters
        self.wait_for = wait_for
        self.reporter = self.flow.reporter if self.flow is not None else reporter
        self.lean = bool(self.reporter is not None and self.reporter.settings.lean_task_events)
        self.id = new_id()
        if self.flow is None:
            # Prefect's shape for a task run outside any flow.
            self.name = task.name
            self.dynamic_key = f"{task.task_key}-{uuid.uuid4().hex}"
        else:
            self.name = f"{task.name}-{self.id[:3]}"
            self.dynamic_key = self.id
        self.state: State = Pending()
        self.state.details["task_run_id"] = self.id
        self.expected = self.state.timestamp
        self.started: datetime.datetime | None = None
        self._expected_iso: str | None = None
        self._started_iso: str | None = None
        self.end: datetime.datetime | None = None
        self.total_run_time = 0.0
        self.run_count = 0
        self.retries_done = 0
        self.value: Any = None
        self.cache_key: str | None = None
        # The lock on cache_key a SERIALIZABLE run holds from its lookup to its end.
        self.lock: _record_locks.Lock | None = None
        # The result record's metadata once persisted (or read from the cache): the final
        # event carries it as its state's data, as Prefect's does.
        self.record: dict[str, Any] | None = None
        self.related: list[dict[str, str]] | None = None
        self.raised: BaseException | None = None
        extra = current_tags()
        self.tags = sorted(task.tags | extra) if extra else task.sorted_tags
        self.inputs = _futures.task_inputs(
            parameters,
            self.flow,
            wait_for,
            parent_task.task_run_id if parent_task is not None else None,
        )
        self.task_run = _context.TaskRun(
            self.id,
            self.name,
            task.name,
            task.task_key,
            self.flow.flow_run if self.flow is not None else None,
            parameters,
            self.tags,
        )
        self.task_run.expected_start_time = self.expected
        self.task_run.state = self.state
        self.logger = task_run_logger(self.reporter, self.flow, self.id)
        queue_event(self, self.state, None)

    # ------------------------------------------------------------------ reporting
    def set_state(self, state: State) -> State:
        """Make ``state`` current, keep the run's times, and queue its event."""
        previous = self.state
        if state.timestamp <= previous.timestamp:
            state.timestamp = previous.timestamp + datetime.timedelta(microseconds=1)
        state.details["task_run_id"] = self.id
        if previous.is_running():
            self.total_run_time += (state.timestamp - previous.timestamp).total_seconds()
        if state.is_running():
            self.run_count += 1
            self.task_run.run_count = self.run_count
            if self.started is None:
                self.started = self.task_run.start_time = state.timestamp
        if state.is_final() and self.started is not None and self.end is None:
            self.end = state.timestamp
        self.state = self.task_run.state = state
        queue_event(self, state, previous)
        return state

    def expected_iso(self) -> str:
        """The expected start time as events carry it (formatted once per run)."""
        if self._expected_iso is None:
            self._expected_iso = self.expected.isoformat()
        return self._expected_iso

    def started_iso(self) -> str | None:
        """The start time as events carry it, once the run has started."""
        started = self.started
        if started is None:
            return None
        if self._started_iso is None:
            self._started_iso = started.isoformat()
        return self._started_iso

    def log(self, level: int, message: str, *args: Any, exc_info: Any = None) -> None:
        """One of the engine's log lines, on ``prefect.task_runs``."""
        self.logger.log(level, message, *args, exc_info=exc_info)

    # ------------------------------------------------------------------ lifecycle
    @contextlib.contextmanager
    def start(self) -> Iterator[None]:
        """Resolve the inputs, enter Running, and at the end log the final state."""
        try:
            try:
                self.parameters = {k: _futures.resolve(v) for k, v in self.parameters.items()}
                self._name_run()
                if self.wait_for:
                    _futures.resolve(self.wait_for)
            except UpstreamTaskError as exc:
                self.set_state(Pending(str(exc), name="NotReady"))
                yield
                return
            with self._tag_limits():
                cached = self._cache_lookup()
                self.set_state(Running())
                self.call_hooks(self.state)
                if cached is not None:
                    self.set_state(cached)
                    self.value = cached.result()
                yield
        except BaseException as exc:
            if not self.state.is_final():
                self._crash(exc)
            raise
        finally:
            if self.lock is not None:
                _task_cache.release(self)
            self.call_hooks(self.state)
            self._finished()

    def _tag_limits(self) -> contextlib.AbstractContextManager[None]:
        # Prefect holds a task run's "tag:<name>" concurrency limits while it runs.
        if not self.tags or self.reporter is None:
            return _NO_LIMITS
        from skiff.concurrency.sync import hold

        return hold(
            [f"tag:{tag}" for tag in self.tags],
            holder={"type": "task_run", "id": self.id},
            lease_duration=60,
            suppress_warnings=True,
        )

    def _name_run(self) -> None:
        template = self.task.options.get("task_run_name")
        if template:
            # A callable name may read skiff.runtime.task_run, so the run's context is set.
            token = _context.task_var.set(self.context())
            try:
                self.name = self.task_run.name = format_run_name(
                    template, self.parameters, "task_run_name"
                )
            finally:
                _context.task_var.reset(token)

    def _cache_lookup(self) -> State | None:
        return _task_cache.lookup(self)

    def is_running(self) -> bool:
        """Whether another attempt is due (Running, or waiting to retry)."""
        return self.state.is_running() or self.state.is_scheduled()

    def retry_wait(self) -> float:
        """Seconds until an AwaitingRetry state's scheduled time (0 otherwise)."""
        if not self.state.is_scheduled():
            return 0.0
        when = datetime.datetime.fromisoformat(self.state.details["scheduled_time"])
        return max(0.0, (when - utcnow()).total_seconds())

    def end_retry_wait(self) -> None:
        """After the wait: the retry starts (Retrying)."""
        if self.state.is_scheduled():
            self.set_state(Retrying())
            self.call_hooks(self.state)

    def context(self) -> _context.TaskRunContext:
        """The context user code, cache policies and loggers of this run see."""
        log_prints = self.task.options.get("log_prints")
        if log_prints is None:
            log_prints = self.flow.log_prints if self.flow is not None else False
        return _context.TaskRunContext(
            self.task, self.task_run, self.parameters, self.flow, bool(log_prints), self.reporter
        )

    @contextlib.contextmanager
    def run_context(self, *, sync_timeout: bool = True) -> Iterator[None]:
        """Around one attempt: the run's context, scoped print patch, timeout, outcome."""
        ctx = self.context()
        token = _context.task_var.set(ctx)
        timeout = self.task.timeout_seconds if sync_timeout else None
        try:
            if not ctx.log_prints and timeout is None:
                yield  # the common case, without an exit stack
            else:
                with contextlib.ExitStack() as stack:
                    if ctx.log_prints:
                        stack.enter_context(patch_print())
                    if timeout is not None:
                        stack.enter_context(deadline(timeout, TaskRunTimeoutError))
                    yield
        except TimeoutError as exc:
            self.handle_timeout(exc)
        except Exception as exc:
            self.handle_exception(exc)
        finally:
            _context.task_var.reset(token)

    def handle_success(self, value: Any) -> None:
        """Record what the function returned (a returned State is recorded as itself)."""
        if isinstance(value, State) and value.is_failed() and self.handle_retry(value):
            return
        if isinstance(value, State):
            terminal = value
        elif isinstance(value, _futures.TaskRunFuture):
            value.wait()
            terminal = value.state
        else:
            terminal = Completed(data=value)
        _task_cache.store(self, terminal)
        self.value = value
        _futures.remember(self.flow, value, self.id)
        self.set_state(terminal)

    def handle_retry(self, failure: Exception | State) -> bool:
        """A retry if retries are left and ``retry_condition_fn`` agrees; False otherwise."""
        kind = "exception" if isinstance(failure, Exception) else "state"
        task = self.task
        if self.retries_done < task.retries and self._can_retry(failure):
            delay = retry_delay(self.retries_done, task.retry_delay_seconds)
            if task.retry_delay_seconds:
                # Any configured delay, even a 0 in a list, goes through AwaitingRetry.
                delay = jittered(delay, task.options.get("retry_jitter_factor"))
                when = utcnow() + datetime.timedelta(seconds=delay)
                new_state = AwaitingRetry(scheduled_time=when)
            else:
                new_state = Retrying()
            self.log(
                logging.INFO,
                _RETRY_LINE,
                kind,
                failure,
                self.retries_done + 1,
                task.retries,
                f"{delay} second(s) from now" if delay else "immediately",
            )
            self.set_state(new_state)
            if new_state.is_running():
                self.call_hooks(new_state)
            self.retries_done += 1
            return True
        if self.retries_done >= task.retries:  # (a refusing retry_condition_fn logs nothing)
            exhausted = " - Retries are exhausted" if task.retries > 0 else ""
            self.log(
                logging.ERROR, f"Task run failed with {kind}: {failure!r}{exhausted}", exc_info=True
            )
        return False

    def _can_retry(self, failure: Exception | State) -> bool:
        condition = self.task.options.get("retry_condition_fn")
        if condition is None:
            return True
        state = (
            failure
            if isinstance(failure, State)
            else Failed(f"Task run encountered unexpected exception: {failure!r}", data=failure)
        )
        try:
            return bool(condition(self.task, self.task_run, state))
        except Exception:
            self.log(
                logging.ERROR,
                "An error was encountered while running `retry_condition_fn` check"
                f" '{condition!r}' for task {self.task.name!r}",
                exc_info=True,
            )
            return False

    def handle_exception(self, exc: Exception) -> None:
        """A retry, or the Failed state."""
        if self.handle_retry(exc):
            return
        self.raised = exc
        self.set_state(
            Failed(f"Task run encountered an exception {type(exc).__name__}: {exc}", data=exc)
        )

    def handle_timeout(self, exc: TimeoutError) -> None:
        """A retry, or the TimedOut state."""
        if self.handle_retry(exc):
            return
        if isinstance(exc, TaskRunTimeoutError):
            message = f"Task run exceeded timeout of {self.task.timeout_seconds} second(s)"
        else:
            message = f"Task run failed due to timeout: {exc!r}"
        self.log(logging.ERROR, message)
        self.raised = exc
        self.set_state(Failed(message, data=exc, name="TimedOut"))

    def _crash(self, exc: BaseException) -> None:
        state = Crashed(f"Execution was interrupted by {type(exc).__name__}", data=exc)
        self.log(logging.ERROR, f"Crash detected! {state.message}")
        self.raised = exc
        self.set_state(state)

    def call_hooks(self, state: State) -> None:
        """Run the hooks for ``state`` (``on_running``, ``on_completion``, ``on_failure``)."""
        if self.task.has_hooks:
            run_hooks(self.logger, self.task.options, self.task, self.task_run, state)

    def _finished(self) -> None:
        level = logging.INFO if self.state.is_completed() else logging.ERROR
        # Prefect does not send this line for a task run outside a flow.
        self.logger.log(level, f"Finished in state {self.state}", send_to_api=self.flow is not None)

    def outcome(self, return_state: bool) -> Any:
        """What the call returns: the final state, or the result (raising a failure)."""
        if return_state:
            return self.state
        if self.raised is not None:
            raise self.raised
        if isinstance(self.value, State) or not self.state.is_completed():
            return self.state.result()
        return self.value


def run_task_sync(engine: TaskRunEngine, return_state: bool = False) -> Any:
    """Drive a sync task run."""
    for future in _futures.find_futures(engine.parameters, engine.wait_for):
        future.wait()
    with engine.start():
        while engine.is_running():
            pause = engine.retry_wait()
            if pause:
                time.sleep(pause)
            engine.end_retry_wait()
            with engine.run_context():
                engine.handle_success(engine.task.call(engine.parameters))
    return engine.outcome(return_state)


async def run_task_async(engine: TaskRunEngine, return_state: bool = False) -> Any:
    """Drive an async task run (in the caller's event loop)."""
    import asyncio

    pending = _futures.find_futures(engine.parameters, engine.wait_for)
    if pending:
        await asyncio.wait([asyncio.wrap_future(f._future) for f in pending])
    with engine.start():
        while engine.is_running():
            pause = engine.retry_wait()
            if pause:
                await asyncio.sleep(pause)
            engine.end_retry_wait()
            with engine.run_context(sync_timeout=False):
                engine.handle_success(
                    await async_deadline(
                        engine.task.call(engine.parameters),
                        engine.task.timeout_seconds,
                        TaskRunTimeoutError,
                    )
                )
    return engine.outcome(return_state)
