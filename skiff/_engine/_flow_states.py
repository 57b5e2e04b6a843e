"""A flow run's states on the server: orchestration answers, queued states, RunHandle.

``queue_state`` buffers ``POST /flow_runs/{id}/set_state`` for the reporter, which obeys
a WAIT answer by sending again after the delay; a REJECT into AwaitingRetry is the
server retrying the flow, as expected. :class:`RunHandle` is what adapters hold.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from skiff._engine._items import CONTROL_SIZE, KEEP, Item, RunRef, Wait, run_id
from skiff._engine._states import Running, State, StateType
from skiff.client._base import decode

if TYPE_CHECKING:
    import httpx

    from skiff._engine import _reporter

__all__ = ["RunHandle", "orchestration", "queue_state"]

logger = logging.getLogger("skiff")


def orchestration(response: httpx.Response) -> tuple[str, State | None, dict[str, Any]]:
    """``(status, state, details)`` of a ``set_state`` answer."""
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
        run = self._run
        if not run.claim_final():
            return
        state = State(StateType(state_type), state_name, message)
        waiting = run.running == "queued"
        run.crashed = True  # the Running still buffered gives way to the copy below
        queue_state(self._reporter, run, state, force=True, urgent=True)
        if waiting:
            # Later urgent reports go first: Running, then this state, as they happened.
            queue_state(self._reporter, run, Running(), urgent=True)


def queue_state(
    reporter: _reporter.Reporter | None,
    run: RunRef,
    state: State,
    *,
    force: bool = False,
    urgent: bool = False,
    data: Any = None,
) -> None:
    """Buffer ``POST /flow_runs/{id}/set_state``; a WAIT answer is obeyed by resending."""
    if reporter is None:
        return
    body: dict[str, Any] = {"state": state.to_api(), "force": force}
    if data is not None:
        body["state"]["data"] = data

    if state.is_running():
        run.running = "queued"

    def on_response(response: httpx.Response) -> None:
        if state.is_running():
            run.running = "sent"
        status, kept, details = orchestration(response)
        if status == "WAIT":
            raise Wait(float(details.get("delay_seconds") or 1))
        if status not in ("ACCEPT", "REJECT") or (
            status == "REJECT" and not (kept and kept.is_scheduled())
        ):
            # A REJECT into AwaitingRetry is the server retrying the flow, as expected.
            logger.warning(
                "the server did not accept state %r for flow run %s: %s %s (kept %r)",
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
            # A Running queued before a crash gives way to the copy queued ahead of it.
            skip=(lambda: run.crashed) if state.is_running() and not urgent else None,
            on_response=on_response,
        ),
        urgent=urgent,
    )
    reporter.kick()
