"""Where concurrency requests and events go, and the events Prefect emits for slots.

Requests use the synchronous :class:`~skiff.client._sync._transport.Transport` (skiff's
retries, auth and error mapping): inside a run, the run's reporter's transport, so they
share its connection pool; outside, the process reporter's for ``Settings.load()``; with
reporting off, one cached transport per settings. The async driver sends them from a
worker thread, so one pool serves every thread and event loop, and a request in flight
when its caller is cancelled still completes (a lease it granted is then released).

Events: ``prefect.concurrency-limit.acquired`` and ``.released`` per limit, with the other
limits and the run (flow run, task run, flow, tags) as related resources, buffered on the
reporter like task-run events. A release event ``follows`` its acquisition if that was
less than 5 minutes before, as in Prefect.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

    from skiff._engine._context import FlowRunContext, TaskRunContext
    from skiff._engine._reporter import Reporter
    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport
    from skiff.concurrency._core import Limit

__all__ = ["Emitted", "Link", "emit", "link"]

FOLLOWS_WINDOW = datetime.timedelta(minutes=5)


class Link(NamedTuple):
    """The transport for slot requests, the reporter for events, and the run they belong to."""

    transport: Transport
    reporter: Reporter | None
    flow: FlowRunContext | None
    task: TaskRunContext | None


_transports: dict[Settings, Transport] = {}
_transports_lock = threading.Lock()


def _transport_for(settings: Settings) -> Transport:
    with _transports_lock:
        transport = _transports.get(settings)
        if transport is None:
            from skiff.client._sync._transport import Transport

            transport = _transports[settings] = Transport(settings)
        return transport


def link() -> Link:
    """The link for the code running now (reads the run context; call in the caller's context)."""
    from skiff._engine import _context, _reporter
    from skiff.client._settings import Settings

    flow = _context.current_flow()
    task = _context.current_task()
    reporter = flow.reporter if flow is not None else None
    if reporter is None:
        settings = (flow.settings if flow is not None else None) or Settings.load()
        settings.require_api_url()
        if settings.reporting and flow is None:
            reporter = _reporter.get(settings)
        else:
            return Link(_transport_for(settings), None, flow, task)
    return Link(reporter.transport, reporter, flow, task)


class Emitted(NamedTuple):
    """An event sent, for the ``follows`` of the next one."""

    id: str
    occurred: datetime.datetime


def _run_related(flow: FlowRunContext | None, task: TaskRunContext | None) -> list[dict[str, str]]:
    """The run's related resources, as Prefect's events worker adds them (raises until known)."""
    if flow is None:
        return []
    from skiff._engine._items import run_id

    related = [
        {
            "prefect.resource.id": f"prefect.flow-run.{run_id(flow.run)}",
            "prefect.resource.role": "flow-run",
            "prefect.resource.name": flow.run.name or "",
        }
    ]
    tags = set(flow.flow_run.tags)
    if task is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.task-run.{task.task_run.id}",
                "prefect.resource.role": "task-run",
                "prefect.resource.name": task.task_run.name,
            }
        )
        tags.update(task.task_run.tags)
    if flow.run.flow_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow.{flow.run.flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow.flow.name,
            }
        )
    related.extend(
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in sorted(tags)
    )
    return related


def emit(
    wire: Link,
    phase: str,
    limits: Sequence[Limit],
    occupy: int,
    follows: dict[uuid.UUID, Emitted] | None = None,
) -> dict[uuid.UUID, Emitted]:
    """Buffer one ``prefect.concurrency-limit.<phase>`` event per limit; returns them by limit id."""
    emitted: dict[uuid.UUID, Emitted] = {}
    if wire.reporter is None or not limits:
        return emitted
    from skiff._engine._items import EVENT_SIZE, TASK_EVENT, Item

    now = datetime.datetime.now(datetime.timezone.utc)
    for limit in limits:
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "occurred": now.isoformat(),
            "event": f"prefect.concurrency-limit.{phase}",
            "resource": {
                "prefect.resource.id": f"prefect.concurrency-limit.{limit.id}",
                "prefect.resource.name": limit.name,
                "slots-acquired": str(occupy),
                "limit": str(limit.limit),
            },
            "payload": {},
        }
        before = (follows or {}).get(limit.id)
        if before is not None and now - before.occurred < FOLLOWS_WINDOW:
            event["follows"] = before.id
        others = [
            {
                "prefect.resource.id": f"prefect.concurrency-limit.{other.id}",
                "prefect.resource.role": "concurrency-limit",
            }
            for other in limits
            if other.id != limit.id
        ]
        emitted[limit.id] = Emitted(event["id"], now)

        def build(
            event: dict[str, Any] = event,
            others: list[dict[str, str]] = others,
            wire: Link = wire,
        ) -> dict[str, Any]:
            return {**event, "related": others + _run_related(wire.flow, wire.task)}

        wire.reporter.put(Item("event", TASK_EVENT, build, EVENT_SIZE))
    return emitted
