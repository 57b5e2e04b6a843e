"""The flow and task engine (internal): decorators, states, the engine API for adapters.

Users import from the public modules (``skiff``, ``skiff.flows``, ``skiff.tasks``, ...);
adapters use::

    run_flow(flow, parameters, *, flow_run_id=None, idempotency_key=None, labels=None,
             tags=(), on_start=None, return_state=False, deadline=None) -> Any
    await run_flow_async(...)              # the same, for async callers
    RunHandle.flow_run_id / .crash(message, state_name=..., state_type=...)
    flush(timeout=None) -> bool            # before the runtime freezes the process

Reporting is described in ``_reporter`` (buffering, fail open, drop order),
``_flow_runs`` (requests per flow, no duplicates) and ``_task_engine`` (events per task).
"""

from __future__ import annotations

from skiff._engine._annotations import allow_failure, quote, unmapped
from skiff._engine._errors import (
    CancelledRun,
    CrashedRun,
    FailedRun,
    FlowRunAborted,
    FlowRunRejected,
    MissingContextError,
    NotSupportedError,
    OrchestrationError,
    UnfinishedRun,
    UpstreamTaskError,
)
from skiff._engine._flow_states import RunHandle
from skiff._engine._flows import (
    Flow,
    dropped_reports,
    flow,
    flush,
    flush_before_freeze,
    run_flow,
    run_flow_async,
)
from skiff._engine._futures import FutureList, TaskRunFuture
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
from skiff._engine._tags import tags
from skiff._engine._tasks import Task, task
from skiff._engine._timeouts import RunTimeoutError

__all__ = [
    "Cached",
    "CancelledRun",
    "Cancelled",
    "Completed",
    "CrashedRun",
    "Crashed",
    "Failed",
    "FailedRun",
    "Flow",
    "FlowRunAborted",
    "FlowRunRejected",
    "FutureList",
    "MissingContextError",
    "NotSupportedError",
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
    "UnfinishedRun",
    "UpstreamTaskError",
    "allow_failure",
    "dropped_reports",
    "flow",
    "flush",
    "flush_before_freeze",
    "get_run_logger",
    "quote",
    "run_flow",
    "run_flow_async",
    "tags",
    "task",
    "unmapped",
]
