"""What ``skiff.runtime``'s modules share: the run contexts, environment overrides, API reads.

Prefect's rules, kept here once:

- Inside a run, values come from the engine's context (:mod:`skiff._engine._context`);
  outside one, from the run named by ``PREFECT__FLOW_RUN_ID``, read from the API.
- ``PREFECT__RUNTIME__<MODULE>__<NAME>`` overrides an attribute, cast to the type of the
  real value (str and None-valued attributes take the text, int ones ``int(text)``, the
  datetime one an ISO 8601 text, naive meaning UTC); other types cannot be overridden.
  An override of a name the module lacks is returned as text.
- The URLs are built from ``PREFECT_API_URL`` / ``PREFECT_UI_URL`` exactly as given, the
  way Prefect builds them (no normalising), so links match Prefect's character for character.

Nothing here imports the engine or the client until a value needs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from skiff._exceptions import ConfigurationError

if TYPE_CHECKING:
    import datetime
    import uuid

    from skiff._engine._context import FlowRunContext, TaskRunContext
    from skiff.client import Client
    from skiff.client.models import DeploymentResponse, Flow, FlowRunResponse, TaskRun

__all__ = [
    "ENV_FLOW_RUN_ID",
    "Api",
    "api_url",
    "current_flow",
    "current_task",
    "resolve",
    "text",
    "ui_url",
    "utcnow",
]

# The same names as in skiff.client._constants; repeated so that reading an accessor
# does not import the client package.
ENV_FLOW_RUN_ID = "PREFECT__FLOW_RUN_ID"
ENV_API_URL = "PREFECT_API_URL"
ENV_UI_URL = "PREFECT_UI_URL"
ENV_CLOUD_API_URL = "PREFECT_CLOUD_API_URL"
ENV_CLOUD_UI_URL = "PREFECT_CLOUD_UI_URL"
OVERRIDE_PREFIX = "PREFECT__RUNTIME__"
DEFAULT_CLOUD_API_URL = "https://api.prefect.cloud/api"
# Prefect Cloud API hosts whose UI is the same host with "app" for "api".
CLOUD_API_HOST = r"https://api[.\w]*.prefect.[^.]+/"

_CONTEXT_MODULE = "skiff._engine._context"
_DEPLOYMENTS: dict[str, DeploymentResponse] = {}  # deployments do not change during a run


def current_flow() -> FlowRunContext | None:
    """The flow run in progress in this context, if any."""
    # Only the engine starts runs, so none is in progress until it is imported; importing
    # it here would make every read outside a run pay for the whole engine.
    if _CONTEXT_MODULE not in sys.modules:
        return None
    from skiff._engine._context import current_flow as found

    return found()


def current_task() -> TaskRunContext | None:
    """The task run in progress in this context, if any."""
    if _CONTEXT_MODULE not in sys.modules:
        return None
    from skiff._engine._context import current_task as found

    return found()


def text(value: uuid.UUID | str | None) -> str | None:
    """An id as Prefect's accessors give it: a string, or None."""
    return None if value is None else str(value)


def utcnow() -> datetime.datetime:
    """Now, in UTC."""
    import datetime  # here, not at import: reading a run's values is rarer than importing

    return datetime.datetime.now(datetime.timezone.utc)


def resolve(module: str, fields: Mapping[str, Callable[[], Any]], name: str) -> Any:
    """Attribute ``name`` of ``module`` (``skiff.runtime.flow_run``...): its value or override."""
    key = f"{OVERRIDE_PREFIX}{module.rsplit('.', 1)[-1].upper()}__{name.upper()}"
    getter = fields.get(name)
    raw = os.environ.get(key)
    if getter is None:
        if raw is None:
            raise AttributeError(f"{module} has no attribute {name!r}")
        return raw
    value = getter()  # computed even when overridden: the override takes its type
    return value if raw is None else _cast(key, raw, value)


def _cast(key: str, raw: str, value: Any) -> Any:
    import datetime

    kind = type(value)
    if value is None or kind is str:
        return raw
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{key}={raw!r} is not a whole number") from None
    if kind is datetime.datetime:
        try:
            parsed = datetime.datetime.fromisoformat(raw)
        except ValueError:
            raise ConfigurationError(
                f"{key}={raw!r} is not an ISO 8601 date and time, "
                f"for example 2024-01-31T12:00:00+00:00"
            ) from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.astimezone(datetime.timezone.utc)
    raise ConfigurationError(
        f"{key}: this runtime context attribute cannot be mocked using an environment "
        f"variable (its value is a {kind.__name__}). Please use monkeypatch instead."
    )


def api_url() -> str | None:
    """``PREFECT_API_URL`` as given."""
    return os.environ.get(ENV_API_URL)


def ui_url() -> str | None:
    """``PREFECT_UI_URL``, else the UI address Prefect infers from ``PREFECT_API_URL``."""
    explicit = os.environ.get(ENV_UI_URL)
    if explicit is not None:
        return explicit
    url = api_url()
    if not url:
        return None
    cloud_api = os.environ.get(ENV_CLOUD_API_URL, DEFAULT_CLOUD_API_URL)
    cloud_ui = os.environ.get(ENV_CLOUD_UI_URL)
    if cloud_ui is None:
        import re  # here, not at import: re costs more than all of skiff.runtime

        cloud_ui = cloud_api
        if re.match(CLOUD_API_HOST, cloud_ui):
            cloud_ui = cloud_ui.replace("https://api", "https://app", 1)
        cloud_ui = cloud_ui.removesuffix("/api")
    if url.startswith(cloud_api) and cloud_ui:
        url = url.replace(cloud_api, cloud_ui)
    # The UI's routes: no /api segment, and singular account/workspace.
    url = url.removesuffix("/api").replace("/api/", "/")
    return url.replace("/accounts/", "/account/").replace("/workspaces/", "/workspace/")


class Api:
    """The API reads of one attribute access; the client is imported and opened on first use.

    Use it as a context manager: ``with Api() as reads: reads.flow_run(run_id)``.
    """

    def __init__(self) -> None:
        self._client: Client | None = None

    def _open(self) -> Client:
        if self._client is None:
            from skiff.client import Client

            flow = current_flow()  # a run's own settings; else the environment's
            self._client = Client(settings=flow.settings if flow is not None else None)
        return self._client

    def flow_run(self, flow_run_id: uuid.UUID | str) -> FlowRunResponse:
        """``GET /flow_runs/{id}``; a malformed ``PREFECT__FLOW_RUN_ID`` is named as such."""
        import uuid

        try:
            uuid.UUID(str(flow_run_id))
        except ValueError:
            # Ids from the context and the server are UUIDs: this one came from the environment.
            raise ConfigurationError(
                f"{ENV_FLOW_RUN_ID}={flow_run_id!r} is not a flow run id: set it to the UUID "
                f"of a flow run on the server, or unset it"
            ) from None
        return self._open().flow_runs.read(flow_run_id)

    def task_run(self, task_run_id: uuid.UUID | str) -> TaskRun:
        """``GET /task_runs/{id}``."""
        return self._open().task_runs.read(task_run_id)

    def flow(self, flow_id: uuid.UUID | str) -> Flow:
        """``GET /flows/{id}``."""
        return self._open().flows.read(flow_id)

    def deployment(self, deployment_id: str) -> DeploymentResponse:
        """``GET /deployments/{id}``, once per process and id."""
        found = _DEPLOYMENTS.get(deployment_id)
        if found is None:
            found = _DEPLOYMENTS[deployment_id] = self._open().deployments.read(deployment_id)
        return found

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._client.close()
