"""What the engine knows about the current flow and task run (context variables)."""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skiff._engine._items import RunRef
    from skiff._engine._reporter import Reporter
    from skiff.client._settings import Settings

__all__ = ["FlowRunContext", "TaskRunContext", "current_flow", "current_task"]


class FlowRunContext:
    """One running flow: its run, reporter, parameters and the results its tasks produced."""

    __slots__ = (
        "flow",
        "futures",
        "lock",
        "log_prints",
        "parameters",
        "reporter",
        "results",
        "run",
        "settings",
        "subflow_keys",
        "tags",
    )

    def __init__(
        self,
        flow: Any,
        run: RunRef,
        reporter: Reporter | None,
        settings: Settings | None,
        parameters: dict[str, Any],
        tags: tuple[str, ...],
        log_prints: bool,
    ) -> None:
        self.flow = flow
        self.run = run
        self.reporter = reporter
        self.settings = settings
        self.parameters = parameters
        self.tags = tags
        self.log_prints = log_prints
        # id(value) -> (value, task run id): which task produced a value passed on later.
        self.results: dict[int, tuple[Any, str]] = {}
        self.futures: list[Any] = []
        self.subflow_keys: dict[str, int] = {}
        self.lock = threading.Lock()


class TaskRunContext:
    """The task run in progress; also what ``cache_key_fn`` receives as its first argument."""

    __slots__ = ("flow_run_id", "log_prints", "parameters", "task", "task_run_id")

    def __init__(
        self,
        task: Any,
        task_run_id: str,
        parameters: dict[str, Any],
        flow_run_id: str | None,
        log_prints: bool,
    ) -> None:
        self.task = task
        self.task_run_id = task_run_id
        self.parameters = parameters
        self.flow_run_id = flow_run_id
        self.log_prints = log_prints


flow_var: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "skiff_flow_run", default=None
)
task_var: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "skiff_task_run", default=None
)


def current_flow() -> FlowRunContext | None:
    """The flow run this code runs in, if any."""
    return flow_var.get()


def current_task() -> TaskRunContext | None:
    """The task run this code runs in, if any."""
    return task_var.get()


def log_prints_active() -> bool:
    """Whether the innermost run asked for ``log_prints``."""
    task = task_var.get()
    if task is not None:
        return task.log_prints
    flow = flow_var.get()
    return flow is not None and flow.log_prints
