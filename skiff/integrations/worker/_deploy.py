"""Deployments whose code is in a function: ``Flow.deploy`` and ``skiff deploy``.

A deployment here needs no code storage and no pull steps: the pool's worker invokes the
function named in the job variables, and the function's skiff-wrapped flow takes over the
run. ``deploy`` registers the flow (``POST /flows/``) and upserts the deployment
(``POST /deployments/``, keyed by flow and name, so a CI script can run it on every
push), with the parameters' JSON schema (the UI's run form) and an optional schedule. The
job variables are checked against the pool's template first, so a misspelled variable
fails the deploy, not the first run.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from skiff._exceptions import ConfigurationError, NotFoundError, ValidationError
from skiff.client import Client
from skiff.integrations.worker._jobs import check_variables

__all__ = ["deploy", "parameter_schema", "schedule_body"]

_JSON_TYPES: Mapping[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


def parameter_schema(fn: Any) -> dict[str, Any]:
    """The parameters' JSON schema as Prefect's UI reads it (title, position, type, default)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for position, (name, param) in enumerate(inspect.signature(fn).parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        spec: dict[str, Any] = {"title": name, "position": position}
        annotation = param.annotation
        if isinstance(annotation, str):  # postponed annotations: the simple names only
            annotation = {t.__name__: t for t in _JSON_TYPES}.get(annotation, annotation)
        origin = getattr(annotation, "__origin__", annotation)
        if origin in _JSON_TYPES:
            spec["type"] = _JSON_TYPES[origin]
        if param.default is param.empty:
            required.append(name)
        else:
            spec["default"] = param.default
        properties[name] = spec
    schema: dict[str, Any] = {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "definitions": {},
    }
    if required:
        schema["required"] = required
    return schema


def schedule_body(
    *,
    cron: str | None = None,
    interval: float | _dt.timedelta | None = None,
    anchor_date: _dt.datetime | None = None,
    timezone: str | None = None,
) -> list[dict[str, Any]]:
    """The ``schedules`` of a DeploymentCreate for ``cron`` or ``interval`` (or none)."""
    if cron is not None and interval is not None:
        raise ValidationError("deploy: give cron= or interval=, not both")
    if cron is not None:
        return [{"schedule": {"cron": cron, "timezone": timezone or "UTC"}, "active": True}]
    if interval is None:
        return []
    seconds = interval.total_seconds() if isinstance(interval, _dt.timedelta) else interval
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValidationError(f"deploy: interval={interval!r} must be seconds > 0 or a timedelta")
    schedule: dict[str, Any] = {"interval": seconds, "timezone": timezone or "UTC"}
    if anchor_date is not None:
        schedule["anchor_date"] = anchor_date.isoformat()
    return [{"schedule": schedule, "active": True}]


def deploy(
    flow: Any,
    name: str,
    *,
    work_pool_name: str,
    work_queue_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    cron: str | None = None,
    interval: float | _dt.timedelta | None = None,
    anchor_date: _dt.datetime | None = None,
    timezone: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    description: str | None = None,
    version: str | None = None,
    paused: bool = False,
    api_url: str | None = None,
) -> uuid.UUID:
    """Register ``flow`` and upsert its deployment ``name`` in ``work_pool_name``; its id.

    The pool must exist (``skiff worker start`` creates it); ``job_variables`` must fit
    its template (:class:`~skiff.integrations.worker.JobVariablesError` otherwise).
    """
    if not isinstance(name, str) or not name:
        raise ValidationError(f"deploy: name must be a non-empty string, got {name!r}")
    schedules = schedule_body(
        cron=cron, interval=interval, anchor_date=anchor_date, timezone=timezone
    )
    with Client(api_url) if api_url else Client() as client:
        try:
            pool = client.request("GET", f"/work_pools/{work_pool_name}").json()
        except NotFoundError:
            raise ConfigurationError(
                f"deploy: no work pool named {work_pool_name!r}; create it by starting its "
                f"worker (skiff worker start --pool {work_pool_name} --type lambda|"
                "cloud-functions|azure-functions)"
            ) from None
        check_variables(pool.get("base_job_template") or {}, dict(job_variables or {}))
        flow_id = client.request("POST", "/flows/", json={"name": flow.name}).json()["id"]
        fn = getattr(flow, "fn", flow)
        body: dict[str, Any] = {
            "name": name,
            "flow_id": flow_id,
            "work_pool_name": work_pool_name,
            "job_variables": dict(job_variables or {}),
            "schedules": schedules,
            "parameters": dict(parameters or {}),
            "parameter_openapi_schema": parameter_schema(fn),
            "enforce_parameter_schema": False,
            "entrypoint": f"{fn.__module__}:{fn.__qualname__}",
            "tags": list(tags if tags is not None else getattr(flow, "tags", ())),
            "description": description or getattr(flow, "description", None),
            "version": version or getattr(flow, "version", None),
            "paused": paused,
        }
        if work_queue_name:
            body["work_queue_name"] = work_queue_name
        deployment = client.request("POST", "/deployments/", json=body).json()
    return uuid.UUID(str(deployment["id"]))
