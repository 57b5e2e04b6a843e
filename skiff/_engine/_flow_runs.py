"""The server's side of a flow run: create it (or take it over), and queue its states.

Requests per flow run: ``POST /flow_runs/`` creates the run PENDING (after ``POST
/flows/`` once per flow name per process), in the caller's thread, once, with no retry,
within :func:`~skiff._engine._budget.start_budget`: that is the only round trip before
the body. Running, the final state, task events and logs then go through the reporter,
in order. If the create fails (server down or slow) the body runs anyway (fail open):
the create moves to the reporter, which retries it, and every report of the run waits
for its id. In strict mode (``SKIFF_STRICT``) a failed create raises
:class:`~skiff.ReportingError` instead, before the body runs.

No duplicate runs: a create carries a marker in the run's ``context`` (which the UI
does not show). When an attempt may have reached the server but its answer was lost,
the next attempt first looks for a run with that marker and adopts it. No idempotency
key is set unless the caller gives one, as in Prefect.

A caller's ``idempotency_key`` that names an existing run gets that run back (HTTP 200
instead of 201), and skiff decides by its state, once the reports this process still holds
(an earlier call's final state) have landed: COMPLETED means a duplicate delivery of
work that already succeeded, so the body is not run again (:class:`FlowRunRejected`); any
other state is a retried invocation, which skiff takes over like a deployment run by
proposing RUNNING through orchestration (``run_count`` goes up) and obeying the answer.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from skiff._engine import _context, _reporter
from skiff._engine._budget import start_budget
from skiff._engine._errors import FlowRunAborted, FlowRunRejected, OrchestrationError
from skiff._engine._flow_states import orchestration, queue_state
from skiff._engine._items import CONTROL_SIZE, KEEP, CreateSpec, Item, RunRef, Wait, run_id
from skiff._engine._states import Pending, Running, State
from skiff._engine._wire import CREATE_MARKER, FlowRunCreate
from skiff._exceptions import APIError, APIStatusError, ReportingError, ResponseValidationError
from skiff.client import _constants
from skiff.client._base import decode
from skiff.client._retry import should_retry

if TYPE_CHECKING:
    from skiff.client._settings import Settings

__all__ = ["FlowRunServer", "takeover_id"]

logger = logging.getLogger("skiff")

# At most this many WAIT answers in a row are obeyed before giving up.
MAX_WAITS = 30


def _busy(error: BaseException) -> bool:
    return isinstance(error, APIStatusError) and error.status_code in (429, 502, 503)


def _within(budget_end: float) -> Any:
    """Retries for a busy server (503/429: SQLite locked by the reports of a run before),
    until ``budget_end``; an unreachable server is not retried here (the caller defers)."""
    from tenacity import Retrying, retry_if_exception, stop_before_delay, wait_exponential

    return Retrying(
        retry=retry_if_exception(_busy),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        stop=stop_before_delay(max(0.0, budget_end - time.monotonic())),
        reraise=True,
    )


def takeover_id(
    flow_run_id: uuid.UUID | str | None, parent: _context.FlowRunContext | None
) -> uuid.UUID | None:
    """The existing run a top-level call drives: the argument, else ``PREFECT__FLOW_RUN_ID``."""
    if flow_run_id is None and parent is None:
        flow_run_id = os.environ.get(_constants.ENV_FLOW_RUN_ID) or None
    return uuid.UUID(str(flow_run_id)) if flow_run_id else None


class FlowRunServer:
    """What the server knows of one flow run: its create, takeover and states."""

    def __init__(
        self,
        flow: Any,
        ctx: _context.FlowRunContext,
        parent: _context.FlowRunContext | None,
        *,
        takeover: uuid.UUID | None,
        idempotency_key: str | None,
        labels: dict[str, Any] | None,
        deadline: float | None,
    ) -> None:
        self.flow = flow
        self.ctx = ctx
        self.parent = parent
        self.settings: Settings = ctx.settings  # type: ignore[assignment]
        self.reporter = ctx.reporter
        self.run = ctx.run
        self.takeover = takeover
        self._read: bool | None = None  # read_takeover's outcome, once it ran
        self._taken_state: State | None = None  # the taken-over run's state when read
        self.user_key = idempotency_key
        self.marker = uuid.uuid4().hex
        self.deadline = deadline
        self.labels = labels
        self.parent_task_run_id: str | None = None
        self.parent_task: RunRef | None = None  # the subflow's stand-in, once it landed

    # ------------------------------------------------------------------ create
    def start(self, *, running: bool = True) -> None:
        """Create (or take over) the flow run; raises when orchestration says stop.

        ``running``: the body will run, so Running follows the create (False when the
        parameters were refused: the run goes from Pending straight to Failed).
        """
        self.running = running
        reporter = self.reporter
        if reporter is None:
            self.run.resolve(self.takeover or uuid.uuid4(), self.run.name, None)
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
            self.run.maybe_created = _reporter.may_have_landed(exc)
            reporter.report_outage(exc)
            self._defer_create()
            return
        if existed and running:
            self.propose_running()
        elif running:
            queue_state(reporter, self.run, Running())

    def create_body(self) -> dict[str, Any]:
        """The ``POST /flow_runs/`` body (the flow id is added by the reporter)."""
        flow = self.flow
        info = self.ctx.flow_run
        create = FlowRunCreate(
            state=Pending().to_api(),
            parameters=info.parameters,  # as given: Prefect records them before validating
            tags=list(info.tags),
            empirical_policy={"retries": flow.retries, "retry_delay": flow.retry_delay_seconds},
            context={CREATE_MARKER: self.marker},
            name=self.run.name,
            flow_version=flow.version,
            labels=self.labels or None,
            parent_task_run_id=self.parent_task_run_id,
            idempotency_key=self.user_key,
        )
        body: dict[str, Any] = msgspec.to_builtins(create)
        return body

    def _create(self, budget_end: float) -> bool:
        """Create the run by ``budget_end``; True when the key named an existing run.

        A busy server (503/429: SQLite locked by the reports of the run before) is asked
        again within the budget; an unreachable one is not, the create is deferred.
        """
        assert self.reporter is not None
        reply = _within(budget_end)(
            self.reporter.create_flow_run, self.flow.name, self.create_body(), deadline=budget_end
        )
        data = decode(reply, Any)
        if reply.status_code == 200 and self.user_key is not None and self.reporter.pending():
            data = self._after_own_reports(data["id"])
        self.run.resolve(data["id"], data.get("name"), self.reporter.flow_ids.get(self.flow.name))
        self._learn(data)
        return self._check_existing(reply.status_code, data)

    def _after_own_reports(self, existing_id: str) -> dict[str, Any]:
        # The key named a run this process may still be reporting (an earlier call's final
        # state, buffered or on the wire): send that first and read the run again, so it is
        # decided as the server will have it, not taken over from a state it is leaving.
        assert self.reporter is not None
        self.reporter.flush()
        data: dict[str, Any] = decode(
            self.reporter.request("GET", f"/flow_runs/{existing_id}"), dict[str, Any]
        )
        return data

    def _learn(self, data: dict[str, Any]) -> None:
        # What the server's record adds to the run's FlowRun (for hooks and skiff.runtime).
        import datetime

        info = self.ctx.flow_run
        stamp = data.get("expected_start_time")
        if isinstance(stamp, str):
            info.expected_start_time = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if data.get("parent_task_run_id"):
            info.parent_task_run_id = uuid.UUID(data["parent_task_run_id"])
        if data.get("deployment_id"):
            info.deployment_id = uuid.UUID(data["deployment_id"])
        info.job_variables = data.get("job_variables") or {}
        info.labels = data.get("labels") or {}

    def _check_existing(self, status: int, data: dict[str, Any]) -> bool:
        # HTTP 200 instead of 201: the key named a run that was there before. Only a key the
        # caller gave can name another delivery's run.
        self.run.existed = status == 200 and self.user_key is not None
        if self.run.existed and data.get("state_type") == "COMPLETED":
            self.run.claim_final()  # this call must not report anything for that run
            raise FlowRunRejected(
                f"flow run {data['id']} already completed for idempotency key "
                f"{self.user_key!r}; not running it again",
                State.from_api(data["state"]) if data.get("state") else None,
            )
        if self.run.existed:
            self.ctx.flow_run.run_count = int(data.get("run_count") or 0)
        return self.run.existed

    def _defer_create(self) -> None:
        assert self.reporter is not None
        spec = CreateSpec(self.flow.name, self.create_body(), self.run, self._deferred)
        parent, stand_in = self.parent, self.parent_task

        def build() -> CreateSpec:
            if parent is not None:
                run_id(parent.run)  # the parent must exist first
                run_id(stand_in)  # and so must the stand-in this run points at
            return spec

        self.reporter.put(Item("create", KEEP, build, CONTROL_SIZE))
        if self.running:
            queue_state(self.reporter, self.run, Running())

    def _deferred(self, status: int, data: dict[str, Any]) -> None:
        self._learn(data)
        try:
            if self._check_existing(status, data):
                self.propose_running(wait=False)
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
        from skiff._engine._futures import task_inputs

        task_run_id = str(uuid.uuid4())
        self.parent_task_run_id = task_run_id
        stand_in = self.parent_task = RunRef()
        body = {
            "id": task_run_id,
            "name": f"{self.flow.name}-{index}",
            "task_key": self.flow.task_key,
            "dynamic_key": str(index),
            "task_inputs": task_inputs(self.ctx.parameters, parent),
            "tags": sorted(self.ctx.flow_run.tags),
            "empirical_policy": {"retries": 0, "retry_delay": 0},
            "state": {"type": "PENDING", "name": "Pending"},
            "task_version": self.flow.version,
        }
        if parent.run.id is not None and not self.reporter.in_outage:
            try:
                _within(budget_end)(
                    self.reporter.request,
                    "POST",
                    "/task_runs/",
                    json={**body, "flow_run_id": str(parent.run.id)},
                    retry=False,
                    timeout=max(0.01, budget_end - time.monotonic()),
                )
                stand_in.resolve(task_run_id, None, None)
                self.ctx.flow_run.parent_task_run_id = uuid.UUID(task_run_id)
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
                on_response=lambda _reply: self._stand_in_landed(stand_in, task_run_id),
            )
        )

    def _stand_in_landed(self, stand_in: RunRef, task_run_id: str) -> None:
        stand_in.resolve(task_run_id, None, None)
        self.ctx.flow_run.parent_task_run_id = uuid.UUID(task_run_id)

    def _take_over(self) -> None:
        if self.read_takeover():
            taken = self._taken_state
            if taken is not None and taken.is_final():
                # The server would let a cancelled or failed run go back to RUNNING: a
                # function started late, or retried by its platform, must not run it again.
                # (It refuses RUNNING from CANCELLING itself.)
                raise FlowRunAborted(
                    f"flow run {self.takeover} is already {taken.name}; not running it again",
                    taken,
                )
            self.propose_running()
        else:
            self.queue(Running(), force=True)
        if self.labels and self.reporter is not None:
            # A create would have carried them (the adapter's platform labels): add them.
            labels, run = dict(self.labels), self.run
            self.reporter.put(
                Item(
                    "request",
                    KEEP,
                    lambda: ("PATCH", f"/flow_runs/{run_id(run)}/labels", labels),
                    CONTROL_SIZE,
                )
            )

    def read_takeover(self) -> bool:
        """Read the run taken over and adopt its parameters (once); False when unreadable.

        The engine calls it before validating, so a deployment's run is validated with
        the parameters it was created with.
        """
        if self._read is not None or self.reporter is None:
            return bool(self._read)
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
            self._read = False
            return False
        data = decode(reply, Any)
        self.run.resolve(data["id"], data.get("name"), data.get("flow_id"))
        server_parameters = data.get("parameters") or {}
        self.ctx.parameters.update(server_parameters)
        info = self.ctx.flow_run
        info.parameters = {**info.parameters, **server_parameters}
        info.run_count = int(data.get("run_count") or 0)
        info.tags = list(data.get("tags") or info.tags)
        info.flow_version = data.get("flow_version") or info.flow_version
        self._learn(data)
        if isinstance(data.get("state"), dict):
            self._taken_state = State.from_api(data["state"])
        self._read = True
        return True

    # ------------------------------------------------------------------ states
    def propose_running(self, *, wait: bool = True) -> None:
        """Propose RUNNING through orchestration now; obey WAIT, raise on REJECT/ABORT."""
        assert self.reporter is not None
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        def propose() -> tuple[str, State | None, dict[str, Any]]:
            reply = self.reporter.request(  # type: ignore[union-attr]
                "POST",
                f"/flow_runs/{self.run.id}/set_state",
                json={"state": Running().to_api(), "force": False},
            )
            answer = orchestration(reply)
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
        self.ctx.flow_run.run_count += 1

    def queue(self, state: State, *, force: bool = False, data: Any = None) -> None:
        """Buffer a state for this run (in order with the run's other reports)."""
        queue_state(self.reporter, self.run, state, force=force, data=data)

    def queue_final(self, state: State, data: Any = None) -> None:
        """Buffer the run's final state, unless an adapter already ended the run."""
        if self.run.claim_final():
            queue_state(self.reporter, self.run, state, data=data)
