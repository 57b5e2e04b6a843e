"""The deployment the current run came from (Prefect's ``prefect.runtime.deployment``).

``from skiff.runtime import deployment; deployment.parameters.get("key", default)``.
Outside a deployment's run ``id``, ``name`` and ``version`` are None. A subflow sees the
deployment of the outermost deployment run above it in the process, as in Prefect.
Outside a run, the run ``PREFECT__FLOW_RUN_ID`` names is read from the API.
``PREFECT__RUNTIME__DEPLOYMENT__<NAME>`` overrides an attribute, for tests.

Attributes: ``id``, ``flow_run_id``, ``name``, ``version``, and ``parameters``: the
deployment run's parameters as the server holds them (JSON values); outside a deployment,
as in Prefect, the current flow run's, and ``{}`` with no run at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skiff.runtime import _accessors as _a

if TYPE_CHECKING:
    from skiff._engine._context import FlowRun
    from skiff.client.models import DeploymentResponse


def __getattr__(name: str) -> Any:
    """The attribute ``name``: ``from skiff.runtime.deployment import id`` works too."""
    return _a.resolve(__name__, FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)


def _deployment_run() -> FlowRun | None:
    """The outermost run in this process's chain of flow runs that came from a deployment."""
    flow = _a.current_flow()
    found = None
    run = flow.flow_run if flow is not None else None
    while run is not None:
        if run.deployment_id is not None:
            found = run
        # getattr: the engine's FlowRun gains the link to its in-process parent's.
        run = getattr(run, "parent_flow_run", None)
    return found


def get_flow_run_id() -> str | None:
    """The current flow run's id, else ``PREFECT__FLOW_RUN_ID``."""
    flow = _a.current_flow()
    if flow is not None:
        return _a.text(flow.flow_run.id)
    return os.environ.get(_a.ENV_FLOW_RUN_ID)


def get_id() -> str | None:
    """The deployment's id."""
    found = _deployment_run()
    if found is not None:
        return _a.text(found.deployment_id)
    if _a.current_flow() is not None:
        return None  # the run in progress knows it has no deployment
    run_id = get_flow_run_id()
    if run_id is None:
        return None
    with _a.Api() as reads:
        return _a.text(reads.flow_run(run_id).deployment_id or None)


def get_parameters() -> dict[str, Any]:
    """The deployment run's parameters (the current flow run's outside a deployment)."""
    found = _deployment_run()
    if found is not None and found.parameters:
        return found.parameters
    flow = _a.current_flow()
    if flow is not None:
        return flow.flow_run.parameters
    run_id = get_flow_run_id()
    if run_id is None:
        return {}
    with _a.Api() as reads:
        return reads.flow_run(run_id).parameters or {}


def _deployment() -> DeploymentResponse | None:
    deployment_id = get_id()
    if deployment_id is None:
        return None
    with _a.Api() as reads:
        return reads.deployment(deployment_id)


def get_name() -> str | None:
    """The deployment's name."""
    found = _deployment()
    return None if found is None else found.name


def get_version() -> str | None:
    """The deployment's version."""
    found = _deployment()
    return found.version if found is not None and isinstance(found.version, str) else None


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "flow_run_id": get_flow_run_id,
    "parameters": get_parameters,
    "name": get_name,
    "version": get_version,
}
# The attributes __getattr__ serves (module attributes of their own would shadow them).
__all__ = sorted(FIELDS)
