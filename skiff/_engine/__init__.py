"""The flow/task runtime: decorators, states, the engine API for adapters, and flushing.

For users: ``flow``, ``task``, ``get_run_logger``, ``flush`` (also in ``skiff``), and the
state types. For adapters (AWS Lambda, GCP, Azure wrappers)::

    run_flow(flow, parameters, *, flow_run_id=None, idempotency_key=None, labels=None,
             tags=(), on_start=None, return_state=False) -> Any
    await run_flow_async(...)              # the same, for async callers
    RunHandle.flow_run_id / .crash(message, state_name=..., state_type=...)
    flush(timeout=None) -> bool            # before the runtime freezes the process

Reporting is described in ``skiff._engine._reporter`` (buffering, fail open, drop order),
``skiff._engine._flows`` (requests per flow, idempotency, no API URL) and
``skiff._engine._tasks`` (events per task run, with measurements).
"""

from __future__ import annotations

from skiff._engine._flows import (
    Flow,
    FlowRunAborted,
    FlowRunRejected,
    OrchestrationError,
    RunHandle,
    dropped_reports,
    flow,
    flush,
    run_flow,
    run_flow_async,
)
from skiff._engine._logging import RunLogger, get_run_logger
from skiff._engine._states import (
    Cached,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Running,
    State,
    StateType,
    TimedOut,
)
from skiff._engine._tasks import FutureList, Task, TaskRunFuture, task, unmapped
from skiff._engine._timeouts import RunTimeoutError

__all__ = [
    "Cached",
    "Cancelled",
    "Completed",
    "Crashed",
    "Failed",
    "Flow",
    "FlowRunAborted",
    "FlowRunRejected",
    "FutureList",
    "OrchestrationError",
    "Pending",
    "RunHandle",
    "RunLogger",
    "RunTimeoutError",
    "Running",
    "State",
    "StateType",
    "Task",
    "TaskRunFuture",
    "TimedOut",
    "dropped_reports",
    "flow",
    "flush",
    "get_run_logger",
    "run_flow",
    "run_flow_async",
    "task",
    "unmapped",
]
