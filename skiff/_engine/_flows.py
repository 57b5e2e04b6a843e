"""``@flow`` and :class:`Flow`, :func:`run_flow` for adapters, and :func:`flush`.

The lifecycle of a run is in :mod:`skiff._engine._flow_engine`, its server side in
:mod:`skiff._engine._flow_runs`. No API URL configured: calling a flow raises
:class:`~skiff.ConfigurationError` naming ``PREFECT_API_URL`` before the body runs (a
missing URL is a configuration mistake, not an outage, and skiff never starts a local
server). ``SKIFF_REPORTING=false`` runs flows with no server at all.
"""

from __future__ import annotations

import functools
import inspect
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from skiff._engine import _reporter
from skiff._engine._base import source_file_hash, task_key_for
from skiff._engine._errors import NotSupportedError, OrchestrationError
from skiff._engine._flow_engine import FlowRunEngine, run_flow_async_engine, run_flow_sync_engine
from skiff._engine._flow_states import RunHandle
from skiff._engine._options import check_flow_options
from skiff._engine._task_runners import ThreadPoolTaskRunner
from skiff._engine._tasks import bind_call, call_with_parameters
from skiff._exceptions import ValidationError

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11

__all__ = [
    "Flow",
    "dropped_reports",
    "flow",
    "flush",
    "flush_before_freeze",
    "run_flow",
    "run_flow_async",
]

R = TypeVar("R")


class Flow(Generic[R]):
    """What ``@flow`` returns. Call it to run the function as a reported flow run.

    ``.fn`` is the function, ``.name`` the flow name, ``.version`` its version (by
    default the md5 of its source file, as Prefect computes it), ``.with_options(**kw)``
    a changed copy.
    """

    def __init__(self, fn: Callable[..., R], **options: Any) -> None:
        if not callable(fn):
            raise ValidationError(f"@flow needs a function, got {fn!r}")
        self.options = check_flow_options(f"@flow({getattr(fn, '__name__', fn)!r})", options)
        self.fn = fn
        default = getattr(fn, "__name__", type(fn).__name__).replace("_", "-")
        self.name: str = self.options.get("name") or default
        self.version: str | None = self.options.get("version") or source_file_hash(fn)
        self.description: str | None = self.options.get("description") or inspect.getdoc(fn)
        self.tags: tuple[str, ...] = self.options.get("tags") or ()
        self.retries: int = self.options.get("retries") or 0
        self.retry_delay_seconds: Any = self.options.get("retry_delay_seconds") or 0
        self.timeout_seconds: float | None = self.options.get("timeout_seconds")
        runner = self.options.get("task_runner")
        if runner is not None and not isinstance(runner, ThreadPoolTaskRunner):
            if isinstance(runner, type) and issubclass(runner, ThreadPoolTaskRunner):
                runner = runner()
            else:
                raise ValidationError(
                    f"@flow({self.name!r}): task_runner must be a ThreadPoolTaskRunner, got"
                    f" {runner!r} (skiff runs tasks on threads only)"
                )
        self.task_runner: ThreadPoolTaskRunner = runner or ThreadPoolTaskRunner()
        self.should_validate_parameters: bool = self.options.get("validate_parameters", True)
        self.task_key = task_key_for(fn)
        self.is_async = self.isasync = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        self._plain = all(
            p.kind is p.POSITIONAL_OR_KEYWORD for p in self._signature.parameters.values()
        )
        self._validator: Any = None
        functools.update_wrapper(self, fn)

    def with_options(self, **options: Any) -> Flow[R]:
        """A copy of this flow with some options replaced."""
        return Flow(self.fn, **{**self.options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The call's arguments as a parameters dict (defaults filled in)."""
        try:
            return bind_call(self._signature, args, kwargs)
        except TypeError as exc:
            raise ValidationError(f"flow {self.name!r}: {exc}") from None

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """``parameters`` coerced to the function's annotations, as Prefect validates them."""
        if self._validator is None:
            from skiff._engine._parameters import validator

            self._validator = validator(self.fn)
        result: dict[str, Any] = self._validator(parameters)
        return result

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters as the server records them (JSON; a placeholder where needed)."""
        from skiff._engine._futures import TaskRunFuture
        from skiff._engine._parameters import serialize
        from skiff._engine._states import State

        return serialize(parameters, opaque=(TaskRunFuture, State))

    def call(self, parameters: dict[str, Any]) -> Any:
        """Call the function with a parameters dict (what the engine runs)."""
        return call_with_parameters(self.fn, self._signature, self._plain, parameters)

    def __call__(
        self, *args: Any, return_state: bool = False, wait_for: Any = None, **kwargs: Any
    ) -> Any:
        """Run the flow; returns its value (a coroutine for an async flow)."""
        parameters = self.bind(*args, **kwargs)
        if self.is_async:
            return run_flow_async(self, parameters, return_state=return_state, wait_for=wait_for)
        return run_flow(self, parameters, return_state=return_state, wait_for=wait_for)

    def serve(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported yet: serving and deploying flows is a later skiff issue."""
        raise NotSupportedError("Flow.serve() is not supported by skiff yet")

    def deploy(self, name: str, **kwargs: Any) -> Any:
        """Register this flow and a deployment in a serverless work pool; its id (a UUID).

        The code stays in the function the pool's worker invokes; the keywords
        (``work_pool_name``, ``job_variables``, ``cron`` or ``interval``...) are
        :func:`skiff.integrations.worker.deploy`'s.
        """
        from skiff.integrations.worker._deploy import deploy

        return deploy(self, name, **kwargs)

    def to_deployment(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported yet: serving and deploying flows is a later skiff issue."""
        raise NotSupportedError("Flow.to_deployment() is not supported by skiff yet")

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


def flow(__fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a flow: ``@flow`` or ``@flow(name=..., retries=..., ...)``.

    Takes Prefect 3.9's keyword names (``skiff._engine._options.FLOW_OPTIONS``); an
    unknown keyword or a bad value raises :class:`~skiff.ValidationError` here, not at
    call time.
    """
    if __fn is None:
        check_flow_options("@flow", options)
        return functools.partial(flow, **options)
    return Flow(__fn, **options)


def _engine(flow: Flow[Any], parameters: dict[str, Any], **kwargs: Any) -> FlowRunEngine:
    if not isinstance(flow, Flow):
        raise ValidationError(f"run_flow needs a Flow (made with @flow), got {flow!r}")
    return FlowRunEngine(flow, dict(parameters), **kwargs)


class RunOptions(TypedDict, total=False):
    """What :func:`run_flow` and :func:`run_flow_async` take besides the flow itself."""

    flow_run_id: uuid.UUID | str | None
    idempotency_key: str | None
    labels: dict[str, Any] | None
    tags: Sequence[str]
    deadline: float | None
    wait_for: Any


def run_flow(
    flow: Flow[Any],
    parameters: dict[str, Any],
    *,
    on_start: Callable[[RunHandle], None] | None = None,
    return_state: bool = False,
    **options: Unpack[RunOptions],
) -> Any:
    """Run ``flow`` with ``parameters`` as one flow run, for adapters and scripts.

    ``flow_run_id`` (or ``PREFECT__FLOW_RUN_ID``) takes over an existing run;
    ``idempotency_key`` makes a repeated call reuse the same run; ``labels`` and ``tags``
    go on the run; ``on_start`` gets the :class:`RunHandle` before the body starts;
    ``deadline`` (a :func:`time.monotonic` time at which the platform kills the call)
    bounds the work before the body. Returns the flow's value (raises its exception),
    or its final state when ``return_state``. An async flow runs with ``asyncio.run``
    (use :func:`run_flow_async` inside a running loop).
    """
    if flow.is_async:
        import asyncio

        return asyncio.run(
            run_flow_async(
                flow, parameters, on_start=on_start, return_state=return_state, **options
            )
        )
    engine = _engine(flow, parameters, **options)
    try:
        return run_flow_sync_engine(engine, return_state, on_start)
    except OrchestrationError as exc:
        return _refused(exc, return_state)


async def run_flow_async(
    flow: Flow[Any],
    parameters: dict[str, Any],
    *,
    on_start: Callable[[RunHandle], None] | None = None,
    return_state: bool = False,
    **options: Unpack[RunOptions],
) -> Any:
    """:func:`run_flow` for async callers; a sync flow's body runs in this thread."""
    if not flow.is_async:
        return run_flow(flow, parameters, on_start=on_start, return_state=return_state, **options)
    engine = _engine(flow, parameters, **options)
    try:
        return await run_flow_async_engine(engine, return_state, on_start)
    except OrchestrationError as exc:
        return _refused(exc, return_state)


def _refused(exc: OrchestrationError, return_state: bool) -> Any:
    # The server refused the run: its state when the caller asked for states, else raise.
    if return_state and exc.state is not None:
        return exc.state
    raise exc


def flush(timeout: float | None = None) -> bool:
    """Send every buffered report; True when nothing is left.

    ``timeout`` defaults to ``Settings.flush_timeout`` (``SKIFF_FLUSH_TIMEOUT``, 10 s).
    Reports not sent by then stay buffered and keep being retried. In strict mode a
    failure raises :class:`~skiff.ReportingError`.
    """
    deadline_at = None if timeout is None else time.monotonic() + timeout
    done = True
    for reporter in _reporter.all_reporters():
        left = None if deadline_at is None else max(0.0, deadline_at - time.monotonic())
        done = reporter.flush(left) and done
    return done


def flush_before_freeze(timeout: float) -> bool:
    """:func:`flush` for adapters: what is unsent after ``timeout`` goes to the spool.

    Without ``SKIFF_SPOOL_DIR`` it is :func:`flush`. True when nothing is left in memory.
    """
    deadline_at = time.monotonic() + timeout
    done = True
    for reporter in _reporter.all_reporters():
        left = max(0.0, deadline_at - time.monotonic())
        done = reporter.flush(left, spool_rest=True) and done
    return done


def dropped_reports() -> int:
    """How many reports this process has dropped (buffer full, refused, or unsent at exit)."""
    return sum(r.dropped for r in _reporter.all_reporters())
