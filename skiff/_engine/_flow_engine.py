"""The flow engine: one flow run's lifecycle, shared by the sync and async drivers.

The shape is Prefect's ``flow_engine.py``: ``start()`` (create the run PENDING, validate
the parameters, Running), a loop while the run is running (``run_context()`` around one
call of the function, then ``handle_success``/``handle_exception``/``handle_timeout``),
and the final state; the drivers at the bottom are the only code that differs between
sync and async flows. The server side (create, takeover, states) is
:mod:`skiff._engine._flow_runs`.

Retries are the server's, as in Prefect: a failure is proposed as Failed, and the server
moves a run with retries left to AwaitingRetry; the engine, knowing the same policy,
logs Prefect's "Received non-final state 'AwaitingRetry' ..." line, proposes Running
again (the server holds it until the retry delay is over) and calls the function again.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from skiff._engine import _context, _reporter, _tags
from skiff._engine._base import format_run_name, retry_delay
from skiff._engine._errors import FlowRunCancelled
from skiff._engine._flow_runs import FlowRunServer, takeover_id
from skiff._engine._flow_states import RunHandle
from skiff._engine._hooks import run_hooks
from skiff._engine._items import RunRef
from skiff._engine._live_runs import heartbeat_template
from skiff._engine._logging import flow_run_logger, patch_print
from skiff._engine._states import (
    Cancelled,
    Cancelling,
    Crashed,
    Failed,
    Pending,
    Running,
    State,
    return_value_to_state,
)
from skiff._engine._timeouts import FlowRunTimeoutError, async_deadline, deadline

if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff._engine._flows import Flow
    from skiff._engine._reporter import Reporter

__all__ = ["FlowRunEngine", "run_flow_async_engine", "run_flow_sync_engine"]


class FlowRunEngine:
    """One flow run from Pending to its final state."""

    def __init__(
        self,
        flow: Flow[Any],
        parameters: dict[str, Any],
        *,
        flow_run_id: uuid.UUID | str | None = None,
        idempotency_key: str | None = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        deadline: float | None = None,
        wait_for: Any = None,
    ) -> None:
        from skiff.client._settings import Settings

        self.flow = flow
        self.settings = Settings.load()
        self.parent = _context.current_flow()
        self.wait_for = wait_for
        reporter = None
        if self.settings.reporting:
            self.settings.require_api_url()
            reporter = _reporter.get(self.settings)
        takeover = takeover_id(flow_run_id, self.parent)
        self.run = RunRef(takeover)
        run_tags = sorted({*flow.tags, *tags, *_tags.current_tags()})
        info = _context.FlowRun(
            self.run, flow.name, flow.serialize_parameters(parameters), run_tags, flow.version
        )
        info.parent_flow_run = self.parent.flow_run if self.parent is not None else None
        self.ctx = _context.FlowRunContext(
            flow,
            info,
            self.run,
            reporter,
            self.settings,
            parameters,
            tuple(run_tags),
            self._log_prints(),
            flow.task_runner.duplicate(),
        )
        self.server = FlowRunServer(
            flow,
            self.ctx,
            self.parent,
            takeover=takeover,
            idempotency_key=idempotency_key,
            labels=labels,
            deadline=deadline,
        )
        self.handle = RunHandle(self.run, reporter)
        self.logger = flow_run_logger(self.ctx)
        self.state: State = Pending()
        info.state = self.state
        self.value: Any = None
        self.raised: BaseException | None = None
        self.attempts = 0
        self._retry_wait = 0.0
        self._rerun = False  # a retry is due: Running is set when its attempt starts
        self.validated = parameters

    def _log_prints(self) -> bool:
        log_prints = self.flow.options.get("log_prints")
        if log_prints is None:
            return self.parent.log_prints if self.parent is not None else False
        return bool(log_prints)

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameters (validated, and from the server for a takeover)."""
        return self.ctx.parameters

    def log(self, level: int, message: str, *args: Any, exc_info: Any = None) -> None:
        """One of the engine's log lines, on ``prefect.flow_runs``."""
        self.logger.log(level, message, *args, exc_info=exc_info)

    # ------------------------------------------------------------------ lifecycle
    @contextlib.contextmanager
    def start(self, on_start: Callable[[RunHandle], None] | None = None) -> Iterator[None]:
        """Validate, create the run, enter Running; at the end, finish it.

        Validation runs before the create, so a callable ``flow_run_name`` sees the
        coerced parameters and the name goes in the create itself (Prefect renames the
        run with a second request). The server records the parameters as given; a run
        taken over (a deployment's) is read first, and validated with its own parameters.
        """
        if self.server.takeover is not None:
            self.server.read_takeover()
        invalid = self._validate()
        if invalid is None:
            token = _context.flow_var.set(self.ctx)
            try:
                self._name_run()
            finally:
                _context.flow_var.reset(token)
        self.server.start(running=invalid is None)  # the one round trip before the body
        try:
            if invalid is not None:
                self._reject(invalid)
            else:
                # Prefect runs these hooks before its run logger exists: their lines stay local.
                self.state = self.ctx.flow_run.state = Running()
                if self.ctx.reporter is not None:
                    self._watch(self.ctx.reporter)
                self.call_hooks(self.state, send_logs=False)
                if on_start is not None:
                    on_start(self.handle)
            yield
        except BaseException as exc:
            if not self.state.is_final():
                self._crash(exc)
            raise
        finally:
            self._finish()

    def _name_run(self) -> None:
        template = self.flow.options.get("flow_run_name")
        if template:
            self.run.name = format_run_name(template, self.ctx.parameters, "flow_run_name")

    def _validate(self) -> Exception | None:
        if not self.flow.should_validate_parameters:
            return None
        try:
            self.validated = self.flow.validate_parameters(self.ctx.parameters)
        except Exception as exc:
            return exc
        self.ctx.parameters = self.validated
        return None

    def _reject(self, exc: Exception) -> None:
        # Prefect: Pending -> Failed, never Running; its lines go to a logger the API never
        # sees, so they stay local here too.
        from skiff._engine._parameters import failure_message, log_message

        self.logger.log(logging.ERROR, log_message(exc), send_to_api=False)
        self.raised = exc
        self._final(Failed(failure_message(exc), data=exc))

    def is_running(self) -> bool:
        """Whether the function is due to be called (again)."""
        return self.state.is_running()

    @contextlib.contextmanager
    def run_context(self, *, sync_timeout: bool = True) -> Iterator[None]:
        """Around one call: the run's context, tags, print patch, timeout, and outcome."""
        if self._rerun:
            self._rerun = False
            self.set_state(Running())
        self.attempts += 1
        self.ctx.flow_run.run_count = max(self.ctx.flow_run.run_count, self.attempts)
        token = _context.flow_var.set(self.ctx)
        tags_token = _tags.enter(frozenset(self.ctx.tags))
        try:
            with contextlib.ExitStack() as stack:
                if self.ctx.log_prints:
                    stack.enter_context(patch_print())
                kind = "subflow" if self.parent is not None else "flow"
                run, name = self.run, self.flow.name
                self.logger.log_rendered(
                    logging.INFO, lambda: f"Beginning {kind} run {run.name!r} for flow {name!r}"
                )
                timeout = self.flow.timeout_seconds
                if sync_timeout and timeout is not None:
                    stack.enter_context(deadline(timeout, FlowRunTimeoutError))
                yield
        except FlowRunCancelled:
            self.handle_cancellation()
        except TimeoutError as exc:
            self.handle_timeout(exc)
        except Exception as exc:
            self.log(logging.ERROR, "Encountered exception during execution: %r", exc, exc_info=exc)
            self.handle_exception(exc)
        finally:
            _tags.leave(tags_token)
            _context.flow_var.reset(token)

    def call(self) -> Any:
        """Call the flow's function with the run's (validated) parameters."""
        return self.flow.call(self.validated)

    def handle_success(self, value: Any) -> None:
        """The returned value (futures resolved to states) makes the final state."""
        from skiff._engine._futures import resolve_futures_to_states

        self._wait_for_tasks()
        resolved = resolve_futures_to_states(value)
        terminal = return_value_to_state(resolved)
        if terminal.is_failed() and self._retry(terminal):
            return
        self.value = resolved
        self._final(terminal)

    def handle_exception(self, exc: Exception) -> None:
        """A retry when retries are left, else Failed."""
        self._wait_for_tasks()
        state = Failed(f"Flow run encountered an exception: {type(exc).__name__}: {exc}", data=exc)
        if self._retry(state):
            return
        self.raised = exc
        self._final(state)

    def handle_cancellation(self) -> None:
        """The server set the run CANCELLING: its ``on_cancellation`` hooks, then Cancelled."""
        self._wait_for_tasks()
        self.log(logging.INFO, "Flow run was cancelled; no further tasks are started")
        self.call_hooks(Cancelling())
        self._final(Cancelled("The flow run was cancelled while it ran."))

    def handle_timeout(self, exc: TimeoutError) -> None:
        """A retry when retries are left, else TimedOut (type FAILED)."""
        self._wait_for_tasks()
        if isinstance(exc, FlowRunTimeoutError):
            message = f"Flow run exceeded timeout of {self.flow.timeout_seconds} second(s)"
        else:
            message = f"Flow run failed due to timeout: {exc!r}"
        self.log(logging.ERROR, message)
        state = Failed(message, data=exc, name="TimedOut")
        if self._retry(state):
            return
        self.raised = exc
        self._final(state)

    def _retry(self, failed: State) -> bool:
        # The server's RetryFailedFlows rule, which it applies to the same proposal.
        if self.ctx.flow_run.run_count > self.flow.retries:
            return False
        from skiff._engine._results import flow_result_data

        # The server answers AwaitingRetry.
        self.server.queue(failed, data=flow_result_data(self, failed))
        self.log(
            logging.INFO,
            f"Received non-final state 'AwaitingRetry' when proposing final state "
            f"{failed.name!r} and will attempt to run again...",
        )
        # The driver waits (an async one without blocking its loop); Running follows.
        self._retry_wait = float(retry_delay(self.attempts - 1, self.flow.retry_delay_seconds))
        self._rerun = True
        return True

    def retry_wait(self) -> float:
        """Seconds the driver waits before the next attempt: a retry's delay, else 0."""
        wait, self._retry_wait = self._retry_wait, 0.0
        return wait

    def _crash(self, exc: BaseException) -> None:
        state = Crashed(f"Execution was interrupted by {type(exc).__name__}", data=exc)
        self.log(logging.ERROR, f"Crash detected! {state.message}")
        self.raised = exc
        self.state = self.ctx.flow_run.state = state
        if self.run.claim_final():
            self.server.queue(state, force=True)

    def set_state(self, state: State) -> None:
        """Make ``state`` current, queue it, and run its hooks."""
        self.state = self.ctx.flow_run.state = state
        self.server.queue(state)
        self.call_hooks(state)

    def _final(self, state: State) -> None:
        self.state = self.ctx.flow_run.state = state
        from skiff._engine._results import flow_result_data

        self.server.queue_final(state, data=flow_result_data(self, state))
        self.call_hooks(state)

    def _wait_for_tasks(self) -> None:
        # Submitted task runs end before the flow's final state is sent.
        for future in list(self.ctx.futures):
            future.wait()

    def call_hooks(self, state: State, *, send_logs: bool = True) -> None:
        """Run the flow's hooks for ``state``, with Prefect's arguments and log lines."""
        run_hooks(
            self.logger, self.flow.options, self.flow, self.ctx.flow_run, state, send_logs=send_logs
        )

    def _watch(self, reporter: Reporter) -> None:
        # Cancellation checks for every run; heartbeats for a deployment's (a worker's).
        info = self.ctx.flow_run
        heartbeat = None
        if info.deployment_id is not None and self.run.id is not None:
            heartbeat = heartbeat_template(
                self.run, self.flow.name, info.deployment_id, list(info.tags)
            )
        reporter.live_runs.watch(self.run, heartbeat, self.settings.heartbeat_interval)

    def _finish(self) -> None:
        self.ctx.task_runner.shutdown()
        if self.ctx.reporter is not None:
            self.ctx.reporter.live_runs.unwatch(self.run)
        rejected = self.state.is_failed() and self.attempts == 0
        self.logger.log(logging.INFO, f"Finished in state {self.state}", send_to_api=not rejected)
        reporter = self.ctx.reporter
        if reporter is not None:
            reporter.kick()
            if self.settings.strict:
                reporter.flush()

    def outcome(self, return_state: bool) -> Any:
        """What the call returns: the final state, or the result (raising a failure)."""
        if return_state:
            return self.state
        if self.raised is not None:
            raise self.raised
        if not self.state.is_completed() or isinstance(self.value, State):
            return self.state.result()
        return self.value


def run_flow_sync_engine(
    engine: FlowRunEngine,
    return_state: bool = False,
    on_start: Callable[[RunHandle], None] | None = None,
) -> Any:
    """Drive a sync flow run."""
    with engine.start(on_start):
        while engine.is_running():
            if wait := engine.retry_wait():
                time.sleep(wait)
            with engine.run_context():
                engine.handle_success(engine.call())
    return engine.outcome(return_state)


async def run_flow_async_engine(
    engine: FlowRunEngine,
    return_state: bool = False,
    on_start: Callable[[RunHandle], None] | None = None,
) -> Any:
    """Drive an async flow run (in the caller's event loop)."""
    with engine.start(on_start):
        while engine.is_running():
            if wait := engine.retry_wait():
                import asyncio

                await asyncio.sleep(wait)
            with engine.run_context(sync_timeout=False):
                engine.handle_success(
                    await async_deadline(
                        engine.call(), engine.flow.timeout_seconds, FlowRunTimeoutError
                    )
                )
    return engine.outcome(return_state)
