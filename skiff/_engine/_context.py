"""What the engine knows about the current flow and task run (context variables).

``FlowRun`` and ``TaskRun`` are the objects hooks receive and ``skiff.runtime`` reads: they
carry the fields of Prefect's client-side ``FlowRun``/``TaskRun`` that user code reads.
A flow run's ``id`` and ``name`` come from the server, so they are ``None`` while its
create is still buffered (server unreachable when the run began).
"""

from __future__ import annotations

import contextvars
import datetime
import threading
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skiff._engine._items import RunRef
    from skiff._engine._reporter import Reporter
    from skiff._engine._states import State
    from skiff.client._settings import Settings

__all__ = [
    "FlowRun",
    "FlowRunContext",
    "TaskRun",
    "TaskRunContext",
    "current_flow",
    "current_task",
]


class _RunView:
    """What a flow run's and a task run's views share: the current state, by type and name."""

    __slots__ = ()
    state: State | None

    @property
    def state_type(self) -> Any:
        """The current state's type."""
        return self.state.type if self.state is not None else None

    @property
    def state_name(self) -> str | None:
        """The current state's name."""
        return self.state.name if self.state is not None else None


class FlowRun(_RunView):
    """A flow run as user code sees it (Prefect's ``FlowRun`` fields that matter here).

    ``parameters`` are the JSON form the server records, as on Prefect's ``FlowRun``;
    the run's Python values are on the :class:`FlowRunContext`.
    """

    __slots__ = (
        "_ref",
        "deployment_id",
        "expected_start_time",
        "flow_name",
        "flow_version",
        "job_variables",
        "labels",
        "parameters",
        "parent_flow_run",
        "parent_task_run_id",
        "run_count",
        "start_time",
        "state",
        "tags",
    )

    def __init__(
        self,
        ref: RunRef,
        flow_name: str,
        parameters: dict[str, Any],
        tags: list[str],
        flow_version: str | None,
    ) -> None:
        self._ref = ref
        self.flow_name = flow_name
        self.parameters = parameters
        self.tags = tags
        self.flow_version = flow_version
        self.run_count = 0
        self.state: State | None = None
        self.labels: dict[str, Any] = {}
        self.job_variables: dict[str, Any] = {}
        # The in-process parent run of a subflow (skiff.runtime's parent and root ids).
        self.parent_flow_run: FlowRun | None = None
        self.deployment_id: uuid.UUID | None = None
        self.parent_task_run_id: uuid.UUID | None = None
        self.expected_start_time: datetime.datetime | None = None
        self.start_time: datetime.datetime | None = None

    @property
    def id(self) -> uuid.UUID | None:
        """The run's server id (``None`` while its create is still buffered)."""
        return self._ref.id

    @property
    def name(self) -> str | None:
        """The run's name: the template's, or the server's generated one."""
        return self._ref.name

    @property
    def flow_id(self) -> uuid.UUID | None:
        """The flow's server id, once known."""
        return uuid.UUID(self._ref.flow_id) if self._ref.flow_id else None

    def __repr__(self) -> str:
        return f"FlowRun(id={self.id!s}, name={self.name!r}, flow_name={self.flow_name!r})"


class TaskRun(_RunView):
    """A task run as user code sees it (Prefect's ``TaskRun`` fields that matter here)."""

    __slots__ = (
        "cache_key",
        "dynamic_key",
        "expected_start_time",
        "flow_run",
        "id_str",
        "name",
        "parameters",
        "run_count",
        "start_time",
        "state",
        "tags",
        "task_key",
        "task_name",
    )

    def __init__(
        self,
        task_run_id: str | uuid.UUID,
        name: str,
        task_name: str,
        task_key: str,
        flow_run: FlowRun | None,
        parameters: dict[str, Any],
        tags: list[str],
    ) -> None:
        self.id_str = str(task_run_id)
        self.name = name
        self.task_name = task_name
        self.task_key = task_key
        self.dynamic_key = self.id_str
        self.flow_run = flow_run
        self.parameters = parameters
        self.tags = tags
        self.run_count = 0
        self.cache_key: str | None = None
        self.state: State | None = None
        self.expected_start_time: datetime.datetime | None = None
        self.start_time: datetime.datetime | None = None

    @property
    def id(self) -> uuid.UUID:
        """The task run's id."""
        return uuid.UUID(self.id_str)

    @property
    def flow_run_id(self) -> uuid.UUID | None:
        """The flow run this task run belongs to (``None`` for a standalone task run)."""
        return self.flow_run.id if self.flow_run is not None else None

    def __repr__(self) -> str:
        return f"TaskRun(id={self.id!s}, name={self.name!r})"


class FlowRunContext:
    """One running flow: its run, reporter, parameters and the results its tasks produced."""

    __slots__ = (
        "flow",
        "flow_run",
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
        "task_runner",
    )

    def __init__(
        self,
        flow: Any,
        flow_run: FlowRun,
        run: RunRef,
        reporter: Reporter | None,
        settings: Settings | None,
        parameters: dict[str, Any],
        tags: tuple[str, ...],
        log_prints: bool,
        task_runner: Any = None,
    ) -> None:
        self.flow = flow
        self.flow_run = flow_run
        self.run = run
        self.reporter = reporter
        self.settings = settings
        self.parameters = parameters
        self.tags = tags
        self.log_prints = log_prints
        self.task_runner = task_runner
        # id(value) -> (value, task run id): which task produced a value passed on later.
        self.results: dict[int, tuple[Any, str]] = {}
        self.futures: list[Any] = []
        self.subflow_keys: dict[str, int] = {}
        self.lock = threading.Lock()


class TaskRunContext:
    """The task run in progress; also what ``cache_key_fn`` and cache policies receive.

    ``task`` is the :class:`~skiff.tasks.Task`, ``task_run`` its :class:`TaskRun`.
    """

    __slots__ = ("flow", "log_prints", "parameters", "reporter", "task", "task_run")

    def __init__(
        self,
        task: Any,
        task_run: TaskRun,
        parameters: dict[str, Any],
        flow: FlowRunContext | None,
        log_prints: bool,
        reporter: Reporter | None,
    ) -> None:
        self.task = task
        self.task_run = task_run
        self.parameters = parameters
        self.flow = flow
        self.log_prints = log_prints
        self.reporter = reporter

    @property
    def task_run_id(self) -> str:
        """The task run's id as a string."""
        return self.task_run.id_str

    @property
    def flow_run_id(self) -> str | None:
        """The flow run's id as a string, when there is one and it is known."""
        found = self.task_run.flow_run_id
        return str(found) if found is not None else None


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
