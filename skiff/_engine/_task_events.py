"""Task-run state events: one per state, queued for the reporter, built when sent.

As Prefect's engine emits them: Pending, Running, then AwaitingRetry/Retrying per retry
and the final state. With ``SKIFF_LEAN_TASK_EVENTS=true`` a Pending or Running event that
is superseded before the reporter sends it is skipped, so a fast task costs one event
(the server's recorder takes about 140 events/s on SQLite, which bounds how fast a very
large flow becomes visible).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skiff._engine._items import EVENT_SIZE, FINAL_TASK_EVENT, TASK_EVENT, Item, RunRef, run_id
from skiff._engine._wire import TaskRunPayload, iso, task_run_event

if TYPE_CHECKING:
    from skiff._engine._states import State
    from skiff._engine._task_engine import TaskRunEngine

__all__ = ["queue_event"]


class _PendingEvent:
    """A state event, made into its body when the reporter sends it."""

    __slots__ = ("end", "engine", "previous", "run_count", "state", "total")

    def __init__(self, engine: TaskRunEngine, state: State, previous: State | None) -> None:
        self.engine = engine
        self.state = state
        self.previous = previous
        self.run_count = engine.run_count
        self.end = engine.end
        self.total = engine.total_run_time

    def __call__(self) -> Any:
        return _build(self)

    def superseded(self) -> bool:
        return self.engine.state is not self.state


def queue_event(engine: TaskRunEngine, state: State, previous: State | None) -> None:
    """Queue the event that moves ``engine``'s run from ``previous`` to ``state``."""
    if engine.reporter is None:
        return
    pending = _PendingEvent(engine, state, previous)
    final = state.is_final()
    engine.reporter.put(
        Item(
            "event",
            FINAL_TASK_EVENT if final else TASK_EVENT,
            pending,
            EVENT_SIZE,
            skip=pending.superseded if engine.lean and not final else None,
        )
    )


def _related(engine: TaskRunEngine) -> list[dict[str, str]]:
    # The same for every event of a run: built once its flow run's id is known.
    if engine.related is not None:
        return engine.related
    flow = engine.flow
    related: list[dict[str, str]] = []
    if flow is not None:
        run: RunRef = flow.run
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{run_id(run)}",
                "prefect.resource.role": "flow-run",
                "prefect.resource.name": run.name or "",
            }
        )
        if run.flow_id:
            related.append(
                {
                    "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": flow.flow.name,
                }
            )
    related.extend(
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in engine.tags
    )
    if flow is None or (flow.run.id is not None and flow.run.flow_id):
        engine.related = related  # (not while spooling placeholders stand in for the id)
    return related


def _build(pending: _PendingEvent) -> Any:
    # The body of one queued event (called by the reporter when it sends).
    engine = pending.engine
    flow = engine.flow
    task = engine.task
    state = pending.state
    details = state.details
    if len(details) > 1:
        details = {k: v for k, v in details.items() if k not in ("task_run_id", "flow_run_id")}
    else:
        details = {}  # only the run's own id, which the payload leaves out
    payload = TaskRunPayload(
        name=engine.name,
        task_key=task.task_key,
        dynamic_key=engine.dynamic_key,
        task_version=task.version,
        empirical_policy=task.event_policy,
        tags=engine.tags,
        labels={},
        task_inputs=engine.inputs,
        run_count=pending.run_count,
        flow_run_run_count=flow.flow_run.run_count if flow is not None else 0,
        expected_start_time=engine.expected_iso(),
        start_time=engine.started_iso(),
        end_time=iso(pending.end),
        total_run_time=pending.total,
    )
    data = engine.record if state.is_completed() else None
    return task_run_event(
        engine.id, state, pending.previous, payload, _related(engine), details, data
    )
