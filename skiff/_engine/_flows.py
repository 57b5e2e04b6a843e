"""Flows: ``@flow``, :func:`run_flow`, :class:`RunHandle`, and the flow-run lifecycle.

Requests per flow run: the run is created already RUNNING by ``POST /flow_runs/`` (after
``POST /flows/`` once per flow name per process), its task events and logs go in batches,
and ``POST /flow_runs/{id}/set_state`` with the final state goes last, from the reporter
thread. A warm flow without tasks or logs costs 2 requests (Prefect's client: 8-9).

Creation happens in the caller's thread, once, with no retry, within
:func:`~skiff._engine._budget.start_budget` (at most 5 s, and at most a quarter of the time
left before an adapter's deadline), so that the run id is known and an orchestration
answer can stop the run before its body starts. If that fails (server down or slow) the
body runs anyway (fail open): the create moves to the reporter, which retries it with
backoff, and every report of the run waits for its id. In strict mode (``SKIFF_STRICT``)
a failed create raises :class:`~skiff.ReportingError` instead, before the body runs.

A run has one ``idempotency_key`` for its whole life (a random one unless given), and
every create of it, inline, deferred or replayed from the spool, sends that key: a create
whose answer was lost never makes a second run. A subflow's stand-in task run is created
before the child run that points at it, and the child waits for it.

When the key given to :func:`run_flow` was already used,
the server returns that run (HTTP 200 instead of 201), and skiff decides by its state
(the server itself would accept RUNNING again even after COMPLETED, measured):

* COMPLETED: a duplicate delivery of work that already succeeded. The body is not run
  again; :class:`FlowRunRejected` is raised (``return_state=True`` returns the server's
  Completed state instead).
* anything else (FAILED, CRASHED, a RUNNING run whose process died, ...): a retried
  invocation. skiff takes the run over like a deployment run: it proposes RUNNING
  through orchestration (``run_count`` goes up) and obeys the answer.

No API URL configured: the flow call raises :class:`~skiff.ConfigurationError` naming
``PREFECT_API_URL`` before the body runs. A missing URL is a configuration mistake, not
an outage, and skiff never starts a local server. ``SKIFF_REPORTING=false`` runs flows
with no server at all.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from skiff._engine import _context, _reporter, _timeouts
from skiff._engine._budget import start_budget
from skiff._engine._items import CONTROL_SIZE, KEEP, CreateSpec, Item, RunRef, Wait, run_id
from skiff._engine._options import check_options
from skiff._engine._states import (
    Completed,
    Crashed,
    Failed,
    Running,
    State,
    StateType,
    TimedOut,
)
from skiff._engine._tasks import backoff_for, format_run_name, task_key_for
from skiff._engine._timeouts import RunTimeoutError, async_deadline
from skiff._exceptions import (
    APIError,
    ReportingError,
    ResponseValidationError,
    SkiffError,
    ValidationError,
)
from skiff.client import _constants
from skiff.client._base import decode
from skiff.client._retry import should_retry

if TYPE_CHECKING:
    import contextvars

    import httpx

    from skiff.client._settings import Settings

__all__ = [
    "Flow",
    "FlowRunAborted",
    "FlowRunRejected",
    "OrchestrationError",
    "RunHandle",
    "dropped_reports",
    "flow",
    "flush",
    "run_flow",
    "run_flow_async",
]

R = TypeVar("R")
logger = logging.getLogger("skiff")

# At most this many WAIT answers in a row are obeyed before giving up.
MAX_WAITS = 30


class OrchestrationError(SkiffError):
    """The server's orchestration stopped a flow run before its body ran; ``state`` says why."""

    def __init__(self, message: str, state: State | None = None) -> None:
        super().__init__(message)
        self.state = state


class FlowRunAborted(OrchestrationError):
    """The server answered ABORT (for example the run was cancelled or already finished)."""


class FlowRunRejected(OrchestrationError):
    """The server answered REJECT; ``state`` is the state it kept instead."""


def _placeholder(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object: its repr failed>"


def _encode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    # Parameters the server cannot store as JSON are recorded by their repr, or by a
    # placeholder when even that fails: recording a parameter never stops the body.
    encoded: dict[str, Any] = {}
    for key, value in parameters.items():
        try:
            encoded[key] = msgspec.json.decode(msgspec.json.encode(value, enc_hook=_placeholder))
        except Exception:
            encoded[key] = _placeholder(value)
    return encoded


def _orchestration(response: httpx.Response) -> tuple[str, State | None, dict[str, Any]]:
    body = decode(response, Any)
    state = State.from_api(body["state"]) if body.get("state") else None
    return body.get("status", "ACCEPT"), state, body.get("details") or {}


class RunHandle:
    """The flow run an engine call is driving, for adapters: its id, and a way to end it early.

    ``flow_run_id`` is None only while the server has not answered the create (outage).
    """

    def __init__(self, run: RunRef, reporter: _reporter.Reporter | None) -> None:
        self._run = run
        self._reporter = reporter

    def latency(self) -> float:
        """The round trip of recent requests to the server, in seconds (0.0 before any)."""
        return self._reporter.latency.estimate() if self._reporter is not None else 0.0

    @property
    def flow_run_id(self) -> uuid.UUID | None:
        """The flow run's id."""
        return self._run.id

    @property
    def flow_run_name(self) -> str | None:
        """The flow run's name (the server's generated one unless ``flow_run_name`` was given)."""
        return self._run.name

    def crash(
        self,
        message: str = "The run was stopped by its runtime",
        *,
        state_name: str = "Crashed",
        state_type: str = "CRASHED",
    ) -> None:
        """End the run now with this final state (thread-safe; e.g. before a Lambda deadline).

        The state is queued ahead of other reports and never dropped; the engine then
        ignores the run's own final state. Call :func:`flush` afterwards to send it.
        """
        if not self._run.claim_final():
            return
        state = State(StateType(state_type), state_name, message)
        _queue_final(self._reporter, self._run, state, urgent=True)


def _queue_final(
    reporter: _reporter.Reporter | None, run: RunRef, state: State, *, urgent: bool = False
) -> None:
    if reporter is None:
        return
    body = {"state": state.to_api(), "force": False}

    def on_response(response: httpx.Response) -> None:
        status, kept, details = _orchestration(response)
        if status == "WAIT":
            raise Wait(float(details.get("delay_seconds") or 1))
        if status != "ACCEPT":
            logger.warning(
                "the server did not accept final state %r for flow run %s: %s %s (kept %r)",
                state.name,
                run.id,
                status,
                details.get("reason", ""),
                kept,
            )

    reporter.put(
        Item(
            "request",
            KEEP,
            lambda: ("POST", f"/flow_runs/{run_id(run)}/set_state", body),
            CONTROL_SIZE,
            on_response=on_response,
        ),
        urgent=urgent,
    )
    reporter.kick()


class _FlowRun:
    """One flow run from start to final state."""

    def __init__(
        self,
        flow: Flow[Any],
        parameters: dict[str, Any],
        *,
        flow_run_id: uuid.UUID | str | None,
        idempotency_key: str | None,
        labels: dict[str, Any] | None,
        tags: Sequence[str],
        deadline: float | None = None,
    ) -> None:
        from skiff.client._settings import Settings

        self.flow = flow
        self.settings: Settings = Settings.load()
        self.parent = _context.current_flow()
        if flow_run_id is None and self.parent is None:
            flow_run_id = os.environ.get(_constants.ENV_FLOW_RUN_ID) or None
        self.takeover = uuid.UUID(str(flow_run_id)) if flow_run_id else None
        self.user_key = idempotency_key
        self.key = idempotency_key or uuid.uuid4().hex  # one key for the run's whole life
        self.deadline = deadline
        self.create_may_have_landed = False
        self.labels = labels
        self.tags = tuple(
            dict.fromkeys([*flow.tags, *tags, *(self.parent.tags if self.parent else ())])
        )
        self.parameters = parameters
        self.reporter: _reporter.Reporter | None = None
        if self.settings.reporting:
            self.settings.require_api_url()
            self.reporter = _reporter.get(self.settings)
        self.run = RunRef(self.takeover)
        self.handle = RunHandle(self.run, self.reporter)
        self.parent_task_run_id: str | None = None
        self.parent_task: RunRef | None = None  # the subflow's stand-in, once it landed

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Create (or take over) the flow run; raises when orchestration says stop."""
        reporter = self.reporter
        if reporter is None:
            self.run.resolve(self.takeover or uuid.uuid4(), None, None)
            return
        if self.parent is None:
            reporter.replay_spool()
        if self.takeover is not None:
            self._take_over()
            return
        budget_end = time.monotonic() + start_budget(self.deadline)
        if self.parent is not None:
            self._create_parent_task_run(budget_end)
        if (
            reporter.in_outage
            or (self.parent is not None and self.parent.run.id is None)
            or (self.parent_task is not None and self.parent_task.id is None)
        ):
            self._defer_create()
            return
        try:
            existed = self._create(budget_end)
        except ResponseValidationError as exc:
            # Not the Prefect API answering (a proxy or login page): retrying cannot help.
            if self.settings.strict:
                raise ReportingError(f"could not create the flow run: {exc}") from exc
            logger.error("skiff could not create a run of flow %r: %s", self.flow.name, exc)
            self.run.dead = True
            return
        except APIError as exc:
            if self.settings.strict:
                raise ReportingError(f"could not create the flow run: {exc}") from exc
            if not should_retry(exc):
                # The server refused the run itself: run unreported rather than not at all.
                logger.error(
                    "the server refused to create a run of flow %r: %s", self.flow.name, exc
                )
                self.run.dead = True
                return
            self.create_may_have_landed = _reporter.may_have_landed(exc)
            reporter.report_outage(exc)
            self._defer_create()
            return
        if existed:
            self._propose_running()

    def _create_body(self) -> dict[str, Any]:
        flow = self.flow
        body: dict[str, Any] = {
            "parameters": _encode_parameters(self.parameters),
            "state": Running().to_api(),
            "tags": list(self.tags),
            "idempotency_key": self.key,
            "empirical_policy": {
                "retries": flow.retries,
                "retry_delay": flow.options.get("retry_delay_seconds")
                if not isinstance(flow.options.get("retry_delay_seconds"), list)
                else None,
            },
        }
        template = flow.options.get("flow_run_name")
        if template:
            body["name"] = format_run_name(template, self.parameters)
        if flow.options.get("version"):
            body["flow_version"] = flow.options["version"]
        if self.labels:
            body["labels"] = self.labels
        if self.parent_task_run_id:
            body["parent_task_run_id"] = self.parent_task_run_id
        return body

    def _create(self, budget_end: float) -> bool:
        """Create the run by ``budget_end``; True when the key named an existing run."""
        assert self.reporter is not None
        reply = self.reporter.create_flow_run(
            self.flow.name, self._create_body(), deadline=budget_end
        )
        data = decode(reply, Any)
        self.run.resolve(data["id"], data.get("name"), self.reporter.flow_ids.get(self.flow.name))
        return self._check_existing(reply.status_code, data)

    def _check_existing(self, status: int, data: dict[str, Any]) -> bool:
        # HTTP 200 instead of 201: the key named a run that was there before. Only a key the
        # caller gave can name another delivery's run; ours was made by this very run.
        self.run.existed = (
            status == 200 and self.user_key is not None and not self.create_may_have_landed
        )
        if self.run.existed and data.get("state_type") == "COMPLETED":
            self.run.claim_final()  # this call must not report anything for that run
            raise FlowRunRejected(
                f"flow run {data['id']} already completed for idempotency key "
                f"{self.user_key!r}; not running it again",
                State.from_api(data["state"]) if data.get("state") else None,
            )
        return self.run.existed

    def _defer_create(self) -> None:
        assert self.reporter is not None
        spec = CreateSpec(self.flow.name, self._create_body(), self.run, self._deferred)

        def build() -> CreateSpec:
            if self.parent is not None:
                run_id(self.parent.run)  # the parent must exist first
                run_id(self.parent_task)  # and so must the stand-in this run points at
            return spec

        self.reporter.put(Item("create", KEEP, build, CONTROL_SIZE))
        self.reporter.kick()

    def _deferred(self, status: int, data: dict[str, Any]) -> None:
        try:
            if self._check_existing(status, data):
                self._propose_running(wait=False)
        except OrchestrationError as exc:
            logger.warning(
                "the server stopped flow run %s, which already ran: %s", self.run.id, exc
            )

    def _create_parent_task_run(self, budget_end: float) -> None:
        # Prefect's shape: a task run in the parent named after the subflow, counted per name.
        parent = self.parent
        assert parent is not None and self.reporter is not None
        with parent.lock:
            index = parent.subflow_keys.get(self.flow.name, -1) + 1
            parent.subflow_keys[self.flow.name] = index
        task_run_id = str(uuid.uuid4())
        self.parent_task_run_id = task_run_id
        stand_in = self.parent_task = RunRef()
        from skiff._engine._tasks import _edges

        body = {
            "id": task_run_id,
            "name": f"{self.flow.name}-{index}",
            "task_key": task_key_for(self.flow.fn),
            "dynamic_key": str(index),
            "task_inputs": {k: _edges(v, parent) for k, v in self.parameters.items()},
            "tags": list(self.tags),
            "empirical_policy": {"retries": 0, "retry_delay": 0},
            "state": {"type": "PENDING", "name": "Pending"},
        }
        if self.flow.options.get("version"):
            body["task_version"] = self.flow.options["version"]
        if parent.run.id is not None and not self.reporter.in_outage:
            try:
                self.reporter.request(
                    "POST",
                    "/task_runs/",
                    json={**body, "flow_run_id": str(parent.run.id)},
                    retry=False,
                    timeout=max(0.01, budget_end - time.monotonic()),
                )
                stand_in.resolve(task_run_id, None, None)
                return
            except APIError as exc:
                if self.settings.strict:
                    raise ReportingError(f"could not create the subflow's task run: {exc}") from exc
        self.reporter.put(
            Item(
                "request",
                KEEP,
                lambda: ("POST", "/task_runs/", {**body, "flow_run_id": run_id(parent.run)}),
                CONTROL_SIZE,
                on_response=lambda _reply: stand_in.resolve(task_run_id, None, None),
            )
        )

    def _take_over(self) -> None:
        assert self.reporter is not None
        try:
            reply = self.reporter.request("GET", f"/flow_runs/{self.takeover}")
        except APIError as exc:
            if self.settings.strict:
                raise ReportingError(f"could not read flow run {self.takeover}: {exc}") from exc
            logger.warning(
                "skiff could not read flow run %s (%s); running with the given parameters",
                self.takeover,
                exc,
            )
            self._queue_state(Running())
            return
        data = decode(reply, Any)
        self.run.resolve(data["id"], data.get("name"), data.get("flow_id"))
        self.parameters = {**self.parameters, **(data.get("parameters") or {})}
        self._propose_running()

    def _propose_running(self, *, wait: bool = True) -> None:
        """Propose RUNNING through orchestration; obey WAIT, raise on REJECT/ABORT."""
        assert self.reporter is not None
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        def propose() -> tuple[str, State | None, dict[str, Any]]:
            reply = self.reporter.request(  # type: ignore[union-attr]
                "POST",
                f"/flow_runs/{self.run.id}/set_state",
                json={"state": Running().to_api(), "force": False},
            )
            answer = _orchestration(reply)
            if answer[0] == "WAIT":
                raise Wait(float(answer[2].get("delay_seconds") or 1))
            return answer

        retrying = Retrying(
            retry=retry_if_exception_type(Wait),
            wait=lambda s: s.outcome.exception().delay if s.outcome and wait else 0,  # type: ignore[union-attr]
            stop=stop_after_attempt(MAX_WAITS),
            reraise=True,
        )
        status, state, details = retrying(propose)
        reason = details.get("reason") or (state.message if state else "") or ""
        if status == "ABORT":
            raise FlowRunAborted(f"the server aborted flow run {self.run.id}: {reason}", state)
        if status == "REJECT":
            raise FlowRunRejected(
                f"the server rejected RUNNING for flow run {self.run.id} and kept {state!r}: {reason}",
                state,
            )

    def _queue_state(self, state: State) -> None:
        assert self.reporter is not None
        body = {"state": state.to_api(), "force": True}
        run = self.run
        self.reporter.put(
            Item(
                "request",
                KEEP,
                lambda: ("POST", f"/flow_runs/{run_id(run)}/set_state", body),
                CONTROL_SIZE,
            )
        )

    # ------------------------------------------------------------------ body
    def context(self) -> _context.FlowRunContext:
        """The context tasks and loggers of this run see."""
        log_prints = self.flow.options.get("log_prints")
        if log_prints is None:
            log_prints = self.parent.log_prints if self.parent else False
        info = _context.FlowRun(
            self.run,
            self.flow.name,
            self.parameters,
            list(self.tags),
            self.flow.options.get("version"),
        )
        return _context.FlowRunContext(
            self.flow,
            info,
            self.run,
            self.reporter,
            self.settings,
            self.parameters,
            self.tags,
            bool(log_prints),
        )

    def retry_after(self, attempt: int, error: BaseException) -> float | None:
        """Seconds before the next attempt of the whole flow, or None when out of retries."""
        if attempt > self.flow.retries:
            return None
        delay = backoff_for(
            attempt - 1,
            self.flow.options.get("retry_delay_seconds"),
            self.flow.options.get("retry_jitter_factor"),
        )
        if self.reporter is not None:
            self._queue_state(
                State(StateType.SCHEDULED, "AwaitingRetry", f"{type(error).__name__}: {error}")
            )
            self._queue_state(Running(name="Retrying"))
        return delay

    def final_state(self, value: Any, error: BaseException | None) -> State:
        """The state the body's outcome maps to."""
        if error is None:
            if isinstance(value, State):
                return value
            return Completed(value)
        if isinstance(error, RunTimeoutError):
            return TimedOut(
                error,
                message=f"Flow run exceeded timeout of {self.flow.options['timeout_seconds']} second(s)",
            )
        if isinstance(error, Exception):
            return Failed(
                error, message=f"Flow run encountered an exception: {type(error).__name__}: {error}"
            )
        return Crashed(error, message=f"Execution was interrupted: {type(error).__name__}")

    def finish(self, ctx: _context.FlowRunContext, state: State) -> None:
        """Wait for submitted tasks, run hooks, queue the final state, and in strict mode flush."""
        for future in list(ctx.futures):
            with contextlib.suppress(RuntimeError):
                future.wait()
        hooks = self.flow.options.get("on_completion" if state.is_completed() else "on_failure")
        for hook in hooks or ():
            try:
                hook(self.flow, self.handle, state)
            except Exception:
                logger.exception("flow hook %r failed", hook)
        if self.run.claim_final():
            _queue_final(self.reporter, self.run, state)
        if self.reporter is not None and self.settings.strict:
            self.reporter.flush()


class Flow(Generic[R]):
    """What ``@flow`` returns. Call it to run the function as a reported flow run.

    ``.fn`` is the function, ``.name`` the flow name, ``.with_options(**kw)`` a changed copy.
    """

    def __init__(self, fn: Callable[..., R], **options: Any) -> None:
        if not callable(fn):
            raise ValidationError(f"@flow needs a function, got {fn!r}")
        self.options = check_options(f"@flow({getattr(fn, '__name__', fn)!r})", options)
        self.fn = fn
        default = getattr(fn, "__name__", type(fn).__name__).replace("_", "-")
        self.name: str = self.options.get("name") or default
        self.tags: tuple[str, ...] = self.options.get("tags") or ()
        self.retries: int = self.options.get("retries") or 0
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def with_options(self, **options: Any) -> Flow[R]:
        """A copy of this flow with some options replaced."""
        return Flow(self.fn, **{**self.options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The call's arguments as a parameters dict (defaults filled in)."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"flow {self.name!r}: {exc}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def __call__(self, *args: Any, return_state: bool = False, **kwargs: Any) -> Any:
        """Run the flow; returns its value (a coroutine for an async flow)."""
        parameters = self.bind(*args, **kwargs)
        if self.is_async:
            return run_flow_async(self, parameters, return_state=return_state)
        return run_flow(self, parameters, return_state=return_state)

    def __repr__(self) -> str:
        return f"Flow({self.name!r})"


def flow(__fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a flow: ``@flow`` or ``@flow(name=..., retries=..., ...)``.

    Takes Prefect's keyword names; an unknown keyword or a bad value raises
    :class:`~skiff.ValidationError` here, not at call time.
    """
    if __fn is None:
        check_options("@flow", options)
        return functools.partial(flow, **options)
    return Flow(__fn, **options)


def _outcome(engine: _FlowRun, state: State, return_state: bool) -> Any:
    if return_state:
        return state
    return state.result()


def _enter_body(
    engine: _FlowRun, on_start: Callable[[RunHandle], None] | None
) -> tuple[_context.FlowRunContext, contextvars.Token[_context.FlowRunContext | None]]:
    """What both engines do once the run exists and before the body runs."""
    if on_start is not None:
        on_start(engine.handle)
    ctx = engine.context()
    token = _context.flow_var.set(ctx)
    if ctx.log_prints:
        from skiff._engine._logging import install_print_hook

        install_print_hook()
    return ctx, token


def run_flow(
    flow: Flow[Any],
    parameters: dict[str, Any],
    *,
    flow_run_id: uuid.UUID | str | None = None,
    idempotency_key: str | None = None,
    labels: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    on_start: Callable[[RunHandle], None] | None = None,
    return_state: bool = False,
    deadline: float | None = None,
) -> Any:
    """Run ``flow`` with ``parameters`` as one flow run, for adapters and scripts.

    ``flow_run_id`` (or ``PREFECT__FLOW_RUN_ID``) takes over an existing run;
    ``idempotency_key`` makes a repeated call reuse the same run; ``labels`` and ``tags``
    go on the run; ``on_start`` gets the :class:`RunHandle` before the body starts;
    ``deadline`` (a :func:`time.monotonic` time at which the platform kills the call)
    bounds the work before the body.
    Returns the flow's value (raises its exception), or its final state when
    ``return_state``. An async flow runs with ``asyncio.run`` (use :func:`run_flow_async`
    inside a running loop).
    """
    if flow.is_async:
        import asyncio

        return asyncio.run(
            run_flow_async(
                flow,
                parameters,
                flow_run_id=flow_run_id,
                idempotency_key=idempotency_key,
                labels=labels,
                tags=tags,
                on_start=on_start,
                return_state=return_state,
                deadline=deadline,
            )
        )
    engine = _FlowRun(
        flow,
        parameters,
        flow_run_id=flow_run_id,
        idempotency_key=idempotency_key,
        labels=labels,
        tags=tags,
        deadline=deadline,
    )
    try:
        engine.start()
    except OrchestrationError as exc:
        if return_state and exc.state is not None:
            return exc.state
        raise
    ctx, token = _enter_body(engine, on_start)
    timeout = flow.options.get("timeout_seconds")
    attempt = 0
    try:
        while True:
            attempt += 1
            value: Any = None
            error: BaseException | None = None
            try:
                if timeout is None:
                    value = flow.fn(**engine.parameters)
                else:
                    with _timeouts.deadline(timeout):
                        value = flow.fn(**engine.parameters)
            except Exception as exc:
                delay = engine.retry_after(attempt, exc)
                if delay is not None:
                    time.sleep(delay)
                    continue
                error = exc
            except BaseException as exc:
                error = exc
            break
        state = engine.final_state(value, error)
        engine.finish(ctx, state)
    finally:
        _context.flow_var.reset(token)
    if error is not None and not isinstance(error, Exception):
        raise error
    return _outcome(engine, state, return_state)


async def run_flow_async(
    flow: Flow[Any],
    parameters: dict[str, Any],
    *,
    flow_run_id: uuid.UUID | str | None = None,
    idempotency_key: str | None = None,
    labels: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
    on_start: Callable[[RunHandle], None] | None = None,
    return_state: bool = False,
    deadline: float | None = None,
) -> Any:
    """:func:`run_flow` for async callers; a sync flow's body runs in this thread."""
    if not flow.is_async:
        return run_flow(
            flow,
            parameters,
            flow_run_id=flow_run_id,
            idempotency_key=idempotency_key,
            labels=labels,
            tags=tags,
            on_start=on_start,
            return_state=return_state,
            deadline=deadline,
        )
    import asyncio

    engine = _FlowRun(
        flow,
        parameters,
        flow_run_id=flow_run_id,
        idempotency_key=idempotency_key,
        labels=labels,
        tags=tags,
        deadline=deadline,
    )
    try:
        await asyncio.to_thread(engine.start) if engine.reporter is not None else engine.start()
    except OrchestrationError as exc:
        if return_state and exc.state is not None:
            return exc.state
        raise
    ctx, token = _enter_body(engine, on_start)
    timeout = flow.options.get("timeout_seconds")
    attempt = 0
    try:
        while True:
            attempt += 1
            value: Any = None
            error: BaseException | None = None
            try:
                value = await async_deadline(flow.fn(**engine.parameters), timeout)
            except Exception as exc:
                delay = engine.retry_after(attempt, exc)
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                error = exc
            except BaseException as exc:
                error = exc
            break
        pending = [f._future for f in ctx.futures if f._async and not f._future.done()]
        if pending:
            await asyncio.wait(pending)
        state = engine.final_state(value, error)
        engine.finish(ctx, state)
    finally:
        _context.flow_var.reset(token)
    if error is not None and not isinstance(error, Exception):
        raise error
    return _outcome(engine, state, return_state)


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
