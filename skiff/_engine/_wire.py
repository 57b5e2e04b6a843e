"""The bodies the engine sends, as msgspec Structs: flow-run create, task-run event, log.

Each mirrors what Prefect 3.9.1's own client sends for the same run, field for field
where the server or the UI reads it (see DESIGN.md, "Task-run state without a
websocket"). Fields left unset are left out of the JSON (``omit_defaults``).
"""

from __future__ import annotations

import datetime
from typing import Any

import msgspec

from skiff._engine._states import State

__all__ = ["FlowRunCreate", "LogBody", "TaskRunEvent", "TaskRunPayload", "task_run_event"]

# Written into a flow run's ``context`` (which the UI does not show), so that a create
# whose answer was lost can be found again instead of made twice.
CREATE_MARKER = "skiff_create"


class FlowRunCreate(msgspec.Struct, omit_defaults=True):
    """``POST /flow_runs/``: the run starts PENDING, as Prefect's engine creates it."""

    state: dict[str, Any]
    parameters: dict[str, Any]
    tags: list[str]
    empirical_policy: dict[str, Any]
    context: dict[str, Any]
    name: str | None = None
    flow_version: str | None = None
    labels: dict[str, Any] | None = None
    parent_task_run_id: str | None = None
    idempotency_key: str | None = None


class TaskRunPayload(msgspec.Struct):
    """The ``task_run`` a state event carries: what the recorder writes on the task run."""

    name: str
    task_key: str
    dynamic_key: str
    task_version: str | None
    empirical_policy: dict[str, Any]
    tags: list[str]
    labels: dict[str, Any]
    task_inputs: dict[str, list[dict[str, str]]]
    run_count: int
    flow_run_run_count: int
    expected_start_time: str
    start_time: str | None
    end_time: str | None
    total_run_time: float
    cache_key: str | None = None
    cache_expiration: str | None = None


class TaskRunEvent(msgspec.Struct):
    """One ``prefect.task-run.<State>`` event, as ``POST /events`` takes it."""

    id: str
    occurred: str
    event: str
    resource: dict[str, str]
    related: list[dict[str, str]]
    payload: dict[str, Any]


class LogBody(msgspec.Struct):
    """One ``POST /logs/`` entry."""

    name: str
    level: int
    message: str
    timestamp: str
    flow_run_id: str | None
    task_run_id: str | None


def task_run_event(
    task_run_id: str,
    state: State,
    previous: State | None,
    task_run: TaskRunPayload,
    related: list[dict[str, str]],
    state_details: dict[str, Any],
    data: dict[str, Any] | None = None,
) -> TaskRunEvent:
    """The event that moves a task run from ``previous`` (None: a new run) to ``state``.

    ``data`` is the state's result record metadata, for a persisted result.
    """
    stamp = state.timestamp.isoformat()
    to = state.type.value
    message = state.message or ""
    if previous is None:
        initial = None
        origin = None
    else:
        origin = previous.type.value
        initial = {"type": origin, "name": previous.name, "message": previous.message or ""}
    return TaskRunEvent(
        id=state.wire_id,
        occurred=stamp,
        event=f"prefect.task-run.{state.name}",
        resource={
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": task_run.name,
            "prefect.run-count": str(task_run.run_count),
            "prefect.state-message": message,
            "prefect.state-name": state.name,
            "prefect.state-timestamp": stamp,
            "prefect.state-type": to,
            "prefect.orchestration": "client",
        },
        related=related,
        payload={
            "intended": {"from": origin, "to": to},
            "initial_state": initial,
            "validated_state": {
                "type": to,
                "name": state.name,
                "message": message,
                "state_details": state_details,
                "data": data,
            },
            "task_run": task_run,
        },
    )


def iso(moment: datetime.datetime | None) -> str | None:
    """ISO 8601, or None."""
    return moment.isoformat() if moment is not None else None
