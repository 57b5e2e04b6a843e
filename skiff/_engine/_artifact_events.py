"""Prefect's client-side artifact events: ``prefect.artifact.created`` and ``.updated``.

Each create and update is followed by one, with the related resources of the run the call
came from (:class:`Origin`: flow run, task run, flow, tags), sent in the task-event batches of
the run's reporter (outside a run, the process's); updates folded into a buffered create
still get theirs, stamped with the time of the call.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from skiff._engine import _context
from skiff._engine._dispatch import settings
from skiff._engine._items import EVENT_SIZE, TASK_EVENT, Item

if TYPE_CHECKING:
    from skiff._engine._reporter import Reporter

__all__ = ["Origin", "created_payload", "emit", "event_reporter", "now"]


def now() -> str:
    """The time of a call as an event's ``occurred`` (ISO 8601, UTC)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Origin:
    """The run an artifact call came from, captured at the call for its events."""

    __slots__ = ("flow", "task")

    def __init__(self) -> None:
        self.flow = _context.current_flow()
        self.task = _context.current_task()

    @property
    def outside(self) -> bool:
        """The call came from outside any flow or task run."""
        return self.flow is None and self.task is None

    def related(self) -> list[dict[str, str]]:
        """Prefect's related resources from the run context: flow run, task run, flow, tags."""
        flow, task = self.flow, self.task
        flow_run_id = flow.run.id if flow is not None else None
        if flow is None or flow_run_id is None:
            return []  # Prefect attaches nothing without a flow run
        related = [_resource("flow-run", flow_run_id, flow.run.name or "")]
        tags = set(flow.flow_run.tags)
        if task is not None:
            related.append(_resource("task-run", task.task_run.id, task.task_run.name))
            tags.update(task.task_run.tags)
        if flow.run.flow_id:
            related.append(_resource("flow", flow.run.flow_id, flow.flow.name))
        related.extend(
            {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
            for tag in sorted(tags)
        )
        return related


def _resource(kind: str, ident: object, name: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"prefect.{kind}.{ident}",
        "prefect.resource.role": kind,
        "prefect.resource.name": name,
    }


def event_reporter(origin: Origin) -> Reporter | None:
    """The reporter that sends a call's events: its run's, else the process's (None when
    reporting is off or no API is configured)."""
    if origin.flow is not None:
        return origin.flow.reporter
    current = settings()
    if not current.reporting or not current.api_url:
        return None
    from skiff._engine import _reporter

    return _reporter.get(current)


def emit(
    reporter: Reporter | None,
    origin: Origin,
    name: str,
    artifact_id: uuid.UUID,
    payload: dict[str, Any],
    key: str | None = None,
    occurred: str | None = None,
) -> None:
    """Queue Prefect's ``prefect.artifact.<name>`` event (built when its batch goes)."""
    if reporter is None:
        return
    occurred = occurred or now()
    resource = {"prefect.resource.id": f"prefect.artifact.{artifact_id}"}
    if key:
        resource["prefect.resource.name"] = key

    def build() -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "occurred": occurred,
            "event": f"prefect.artifact.{name}",
            "resource": resource,
            "related": origin.related(),
            "payload": payload,
        }

    reporter.put(Item("event", TASK_EVENT, build, EVENT_SIZE))


def created_payload(fields: dict[str, Any], drop_none: bool) -> dict[str, Any]:
    """The ``prefect.artifact.created`` payload: key, type and description.

    Prefect's sync client keeps None values in it, its async client drops them.
    """
    payload = {k: fields.get(k) for k in ("key", "type", "description")}
    return {k: v for k, v in payload.items() if v is not None} if drop_none else payload
