"""The current flow run, as module attributes (Prefect's ``prefect.runtime.flow_run``).

``from skiff.runtime import flow_run; flow_run.name``. Inside a flow run (and its tasks)
the values come from the run; outside one, from the run ``PREFECT__FLOW_RUN_ID`` names,
read from the API; with neither, empty values (None, ``[]``, ``{}``, 0, now).
``PREFECT__RUNTIME__FLOW_RUN__<NAME>`` overrides an attribute, for tests.

Attributes: ``id``, ``tags``, ``scheduled_start_time`` (aware UTC datetime), ``name``,
``flow_name``, ``flow_version``, ``parameters`` (the Python values the flow was called
with, defaults included), ``parent_flow_run_id``, ``parent_deployment_id``,
``root_flow_run_id``, ``run_count``, ``api_url``, ``ui_url``, ``job_variables``.
Ids are strings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from skiff.runtime import _accessors as _a

if TYPE_CHECKING:
    import datetime

    from skiff._engine._context import FlowRun, FlowRunContext
    from skiff.client.models import FlowRunResponse


_T = TypeVar("_T")


def __getattr__(name: str) -> Any:
    """The attribute ``name``: ``from skiff.runtime.flow_run import id`` works too."""
    return _a.resolve(__name__, FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)


def get_id() -> str | None:
    """The flow run's id: the run's, the task's flow run's, else ``PREFECT__FLOW_RUN_ID``."""
    flow = _a.current_flow()
    if flow is not None:
        return _a.text(flow.flow_run.id)
    task = _a.current_task()
    if task is not None:
        return _a.text(task.task_run.flow_run_id)
    return os.environ.get(_a.ENV_FLOW_RUN_ID)


def _field(
    local: Callable[[FlowRunContext], _T],
    remote: Callable[[FlowRunResponse, _a.Api], _T],
    empty: Callable[[], _T],
) -> _T:
    # Prefect's order: the run in progress, else the API's copy of the run named, else empty.
    flow = _a.current_flow()
    if flow is not None:
        return local(flow)
    run_id = get_id()
    if run_id is None:
        return empty()
    with _a.Api() as reads:
        return remote(reads.flow_run(run_id), reads)


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None  # a field the server left out: None


def get_tags() -> list[str]:
    """The run's tags."""
    return _field(lambda f: f.flow_run.tags, lambda r, _: r.tags or [], list)


def get_run_count() -> int:
    """How many times the run has started (1 on the first attempt)."""
    return _field(lambda f: f.flow_run.run_count, lambda r, _: r.run_count or 0, int)


def get_name() -> str | None:
    """The run's name."""
    return _field(lambda f: f.flow_run.name, lambda r, _: _string(r.name), lambda: None)


def get_flow_name() -> str | None:
    """The flow's name."""
    return _field(
        lambda f: str(f.flow.name), lambda r, reads: reads.flow(r.flow_id).name, lambda: None
    )


def get_flow_version() -> str | None:
    """The flow's version (Prefect's default: a hash of the flow's source file)."""
    # The server keeps it on the run, not the flow (Prefect 3.9.1 looks on the flow, and
    # raises AttributeError there).
    return _field(
        lambda f: f.flow_run.flow_version, lambda r, _: _string(r.flow_version), lambda: None
    )


def get_scheduled_start_time() -> datetime.datetime:
    """When the run was expected to start; now when there is no run."""
    return _field(
        lambda f: f.flow_run.expected_start_time or _a.utcnow(),
        lambda r, _: r.expected_start_time or _a.utcnow(),
        _a.utcnow,
    )


def get_parameters() -> dict[str, Any]:
    """The run's parameters: the call's Python values in a run, the server's copy outside."""
    return _field(lambda f: f.parameters, lambda r, _: r.parameters or {}, dict)


def _current(reads: _a.Api) -> FlowRun | FlowRunResponse | None:
    flow = _a.current_flow()
    if flow is not None:
        return flow.flow_run
    run_id = get_id()
    return None if run_id is None else reads.flow_run(run_id)


def _parent(run: FlowRun | FlowRunResponse, reads: _a.Api) -> FlowRun | str | None:
    """The parent: its in-process FlowRun when there is one, else its id, from the server."""
    local: FlowRun | None = getattr(run, "parent_flow_run", None)
    if local is not None:
        return local
    if not run.parent_task_run_id:
        return None
    # A subflow's parent_task_run_id is its stand-in task run, which sits in the parent.
    return _a.text(reads.task_run(run.parent_task_run_id).flow_run_id or None)


def get_parent_flow_run_id() -> str | None:
    """The id of the flow run this run is a subflow of."""
    with _a.Api() as reads:
        run = _current(reads)
        parent = None if run is None else _parent(run, reads)
    return parent if parent is None or isinstance(parent, str) else _a.text(parent.id)


def get_parent_deployment_id() -> str | None:
    """The deployment the parent flow run was created from."""
    with _a.Api() as reads:
        run = _current(reads)
        parent = None if run is None else _parent(run, reads)
        if parent is None:
            return None
        if isinstance(parent, str):
            return _a.text(reads.flow_run(parent).deployment_id or None)
    return _a.text(parent.deployment_id)


def get_root_flow_run_id() -> str | None:
    """The id of the outermost flow run above this one (this run's id when it has no parent)."""
    with _a.Api() as reads:
        run = _current(reads)
        if run is None:
            return None
        parent = _parent(run, reads)
        if parent is None:
            return get_id()
        while parent is not None:
            run = reads.flow_run(parent) if isinstance(parent, str) else parent
            parent = _parent(run, reads)
    return _a.text(run.id)


def get_flow_run_api_url() -> str | None:
    """``{PREFECT_API_URL}/flow-runs/flow-run/{id}``, as Prefect builds it."""
    run_id = get_id()
    return None if run_id is None else f"{_a.api_url()}/flow-runs/flow-run/{run_id}"


def get_flow_run_ui_url() -> str | None:
    """The run's page in the UI (``PREFECT_UI_URL``, or the UI inferred from the API URL)."""
    run_id = get_id()
    return None if run_id is None else f"{_a.ui_url()}/flow-runs/flow-run/{run_id}"


def get_job_variables() -> dict[str, Any] | None:
    """The job variables of a deployment's run (``{}`` otherwise); None outside a run."""
    flow = _a.current_flow()
    # getattr: the engine's FlowRun gains job_variables with deployment runs.
    return getattr(flow.flow_run, "job_variables", {}) if flow is not None else None


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": get_tags,
    "scheduled_start_time": get_scheduled_start_time,
    "name": get_name,
    "flow_name": get_flow_name,
    "flow_version": get_flow_version,
    "parameters": get_parameters,
    "parent_flow_run_id": get_parent_flow_run_id,
    "parent_deployment_id": get_parent_deployment_id,
    "root_flow_run_id": get_root_flow_run_id,
    "run_count": get_run_count,
    "api_url": get_flow_run_api_url,
    "ui_url": get_flow_run_ui_url,
    "job_variables": get_job_variables,
}
# The attributes __getattr__ serves (module attributes of their own would shadow them).
__all__ = sorted(FIELDS)
