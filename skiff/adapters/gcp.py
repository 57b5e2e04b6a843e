"""Google Cloud Functions adapter: each call of a function is one reported flow run.

Usage (``main.py``, served by ``functions-framework --target hello``)::

    import functions_framework
    from skiff import get_run_logger, task
    from skiff.adapters.gcp import cloud_event_flow, http_flow

    @task
    def greet(name: str) -> str:
        return f"hello {name}"

    @functions_framework.http
    @http_flow                         # or @http_flow(name="greeter", retries=1, ...)
    def hello(request):                # a flask.Request
        get_run_logger().info("called from %s", request.remote_addr)
        return {"greeting": greet(request.args.get("name", "world"))}

    @functions_framework.cloud_event
    @cloud_event_flow(timeout=60)
    def on_upload(event):              # a cloudevents CloudEvent
        print(event["id"], event.data)

    # An existing @flow, its parameters taken from the request:
    report = http_flow(daily_report, parameters=lambda request: {"day": request.args["day"]})

What each call does:

* **Flow run.** A plain handler becomes the flow run; the request (method, path, query,
  JSON body) or the event (id, type, source, subject, time, data) is recorded as its
  parameter. A wrapped ``@flow`` gets its parameters from ``parameters=(request or
  event)`` or, by default, from the query string and JSON object body (HTTP) or the
  event's ``data`` (CloudEvent) keys that name its parameters. Return values pass through
  unchanged, so Flask responses, tuples and dicts work as before.
* **Labels.** ``gcp.function.name``, ``.target``, ``.revision``, ``gcp.region``,
  ``gcp.project`` where the environment has them (``K_SERVICE``, ``FUNCTION_TARGET``,
  ``K_REVISION``, ``FUNCTION_REGION``, ``GOOGLE_CLOUD_PROJECT``/``GCP_PROJECT``, ...),
  ``gcp.trigger``, ``gcp.execution_id``, and for CloudEvents ``gcp.event.id``, ``.type``,
  ``.source`` and ``.subject``. A CloudEvent's source and id are the run's idempotency
  key: a redelivered event continues its run, and one that already completed is not run
  again.
* **Deadline.** ``timeout=`` seconds, else ``FUNCTION_TIMEOUT_SEC``, else
  ``CLOUD_RUN_TIMEOUT_SECONDS`` (read per call). ``timeout_margin`` seconds (1.0) before
  it, the run is marked TimedOut and flushed, so a call the platform kills is never left
  Running. Every report is flushed before the function returns (the platform may throttle
  the CPU right after), stopping ``flush_margin`` seconds (0.2) before the deadline.
* **Errors.** The function's exception is reported as Failed, flushed and re-raised
  unchanged (functions-framework answers 500). An error inside skiff is logged once and
  the function runs and returns anyway. A call with something other than a flask (or
  Starlette) request, or a CloudEvent, raises :class:`~skiff.ValidationError`.
* **ASGI.** Under ``functions-framework --asgi`` (``functions_framework.aio``), sync and
  async functions work the same way; HTTP functions get a Starlette request (its JSON body
  feeds a wrapped flow's default parameters only when the wrapper is async).

Importing this module does not import flask, cloudevents or functions_framework.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from skiff._exceptions import ValidationError
from skiff.adapters._core import (
    Runner,
    Trigger,
    _seconds,
    decorate,
    log_once,
    monotonic_deadline,
    summarize,
)
from skiff.client import _constants

if TYPE_CHECKING:
    from skiff._engine import Flow
    from skiff.adapters._core import Options

__all__ = ["cloud_event_flow", "deadline_seconds", "http_flow"]

_EXTRA_OPTIONS: Mapping[str, Any] = {"timeout": None}
# The header functions-framework (and the platform) puts each call's execution id in.
_EXECUTION_ID_HEADER = "Function-Execution-Id"

GcpHandler = Callable[[Any], Any]
"""What the decorators return: a function of one argument for functions-framework."""


def deadline_seconds(timeout: float | None = None) -> float | None:
    """Seconds the platform gives a call: ``timeout``, else the environment, else None.

    Reads ``FUNCTION_TIMEOUT_SEC`` (1st gen), then ``CLOUD_RUN_TIMEOUT_SECONDS`` (2nd gen
    and Cloud Run). A malformed value is logged once and ignored (no deadline).
    """
    if timeout is not None:
        return timeout
    for name in (_constants.ENV_GCP_FUNCTION_TIMEOUT, _constants.ENV_GCP_CLOUD_RUN_TIMEOUT):
        raw = os.environ.get(name)
        if raw:
            try:
                return _seconds(name, name, float(raw)) or None
            except (ValueError, ValidationError) as exc:
                log_once(f"reading {name}", exc)
    return None


def _environment_labels(target: str, trigger: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, names in _constants.GCP_LABEL_ENV.items():
        out[label] = next((os.environ[n] for n in names if os.environ.get(n)), None)
    out["gcp.function.target"] = out["gcp.function.target"] or target
    out["gcp.trigger"] = trigger
    return out


def _module_class(module: str, name: str) -> Any:
    """A class from a module only if that module is already imported (never imports it)."""
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _request_kind(value: Any) -> str | None:
    """``"flask"``, ``"starlette"`` or None: which request type ``value`` is."""
    for kind, module in (("flask", "flask"), ("starlette", "starlette.requests")):
        cls = _module_class(module, "Request")
        if cls is not None and isinstance(value, cls):
            return kind
    return None


def _is_cloud_event(value: Any) -> bool:
    cls = _module_class("cloudevents.abstract", "CloudEvent")
    return cls is not None and isinstance(value, cls)


def _flask_execution_id() -> str | None:
    # CloudEvent functions see only the event; under Flask the request is still current.
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_request_context():
        return None
    value = flask.request.headers.get(_EXECUTION_ID_HEADER)
    return str(value) if value else None


def _summarize(value: Any) -> Any:
    kind = _request_kind(value)
    if kind is not None:
        recorded: dict[str, Any] = {
            "method": value.method,
            "path": value.url.path if kind == "starlette" else value.path,
            "query": dict(value.query_params if kind == "starlette" else value.args),
        }
        if kind == "flask" and value.is_json:
            recorded["json"] = value.get_json(silent=True)
        return summarize(recorded)
    if _is_cloud_event(value):
        attributes = value.get_attributes()
        recorded = {k: attributes.get(k) for k in ("id", "type", "source", "subject", "time")}
        return summarize({**recorded, "data": _json_data(value.data)})
    return summarize(value)


def _json_data(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray)):
        import msgspec

        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            return f"<{len(data)} bytes>"
    return data


def _http_fields(request: Any, kind: str, body: bytes | None) -> dict[str, Any]:
    """Query string and JSON object body, for a wrapped flow's default parameters."""
    if kind == "flask":
        fields = dict(request.args)
        payload = request.get_json(silent=True) if request.is_json else None
    else:
        fields = dict(request.query_params)
        payload = _json_data(body) if body else None
    if isinstance(payload, Mapping):
        fields.update(payload)
    return fields


def _describe_http(
    request: Any, kind: str, target: str, timeout: float | None, body: bytes | None
) -> Trigger:
    labels = _environment_labels(target, "http")
    labels["gcp.execution_id"] = request.headers.get(_EXECUTION_ID_HEADER)
    return Trigger(
        request,
        labels=labels,
        deadline=monotonic_deadline(deadline_seconds(timeout)),
        fields=_http_fields(request, kind, body),
    )


def _describe_event(event: Any, target: str, timeout: float | None) -> Trigger:
    attributes = event.get_attributes()
    labels = _environment_labels(target, "cloudevent")
    labels["gcp.execution_id"] = _flask_execution_id()
    for key in ("id", "type", "source", "subject"):
        labels[f"gcp.event.{key}"] = attributes.get(key)
    data = _json_data(event.data)
    return Trigger(
        event,
        labels=labels,
        # Retried deliveries keep the event's source and id (CloudEvents spec: unique pair).
        idempotency_key=f"gcp-cloudevent:{attributes.get('source')}:{attributes.get('id')}",
        deadline=monotonic_deadline(deadline_seconds(timeout)),
        fields=data if isinstance(data, Mapping) else {},
    )


def _check_handler(owner: str, target: Any, argument: str, parameter: str) -> None:
    from skiff._engine import Flow

    if isinstance(target, Flow):
        return
    try:
        inspect.signature(target).bind(None)
    except TypeError:
        raise ValidationError(
            f"{owner}: {getattr(target, '__name__', target)!r} must take exactly one "
            f"argument, the {argument}: def handler({parameter}): ..."
        ) from None
    except ValueError:
        pass  # no signature to check (a builtin); the call will tell


def _timeout_option(owner: str, value: Any) -> float | None:
    return None if value is None else _seconds(owner, "timeout", value) or None


def _finish(handler: Any, runner: Runner, parameter: str) -> GcpHandler:
    # functions-framework calls handler(argument); a wrapped flow's signature does not apply.
    handler.__signature__ = inspect.Signature(
        [inspect.Parameter(parameter, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    handler.flow = runner.flow
    return handler  # type: ignore[no-any-return]


def _build_http(target: Any, options: Options) -> GcpHandler:
    owner = "http_flow"
    timeout = _timeout_option(owner, options.adapter["timeout"])
    _check_handler(owner, target, "flask.Request", "request")
    runner = Runner(owner, target, options, summarize=_summarize)
    name = getattr(runner.wrapped, "__name__", "handler")

    def request_kind(request: Any) -> str:
        kind = _request_kind(request)
        if kind is None:
            raise ValidationError(
                f"{owner}: {name!r} was called with {type(request).__name__}, not a "
                f"flask.Request (or a Starlette Request under functions_framework.aio); "
                f"call it through functions-framework or pass a request"
            )
        return kind

    if runner.is_async:

        @functools.wraps(runner.wrapped)
        async def handler_async(request: Any) -> Any:
            kind = request_kind(request)
            try:
                # Starlette caches the body, so the handler can still read it.
                body = await request.body() if kind == "starlette" and runner.wraps_flow else None
                trigger = _describe_http(request, kind, name, timeout, body)
            except Exception as exc:
                log_once("reading the HTTP request", exc)
                trigger = Trigger.bare((request,))
            return await runner.run_async(trigger, (request,), {})

        return _finish(handler_async, runner, "request")

    @functools.wraps(runner.wrapped)
    def handler(request: Any) -> Any:
        kind = request_kind(request)
        try:
            trigger = _describe_http(request, kind, name, timeout, None)
        except Exception as exc:
            log_once("reading the HTTP request", exc)
            trigger = Trigger.bare((request,))
        return runner.run(trigger, (request,), {})

    return _finish(handler, runner, "request")


def _build_event(target: Any, options: Options) -> GcpHandler:
    owner = "cloud_event_flow"
    timeout = _timeout_option(owner, options.adapter["timeout"])
    _check_handler(owner, target, "CloudEvent", "event")
    runner = Runner(owner, target, options, summarize=_summarize)
    name = getattr(runner.wrapped, "__name__", "handler")

    def describe(event: Any) -> Trigger:
        if not _is_cloud_event(event):
            raise ValidationError(
                f"{owner}: {name!r} was called with {type(event).__name__}, not a "
                f"cloudevents CloudEvent; call it through functions-framework or pass "
                f"cloudevents.http.CloudEvent(attributes, data)"
            )
        try:
            return _describe_event(event, name, timeout)
        except Exception as exc:
            log_once("reading the CloudEvent", exc)
            return Trigger.bare((event,))

    if runner.is_async:

        @functools.wraps(runner.wrapped)
        async def handler_async(event: Any) -> Any:
            return await runner.run_async(describe(event), (event,), {})

        return _finish(handler_async, runner, "event")

    @functools.wraps(runner.wrapped)
    def handler(event: Any) -> Any:
        return runner.run(describe(event), (event,), {})

    return _finish(handler, runner, "event")


@overload
def http_flow(fn: Callable[..., Any] | Flow[Any], /, **options: Any) -> GcpHandler: ...
@overload
def http_flow(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[..., Any] | Flow[Any]], GcpHandler]: ...
def http_flow(fn: Any = None, /, **options: Any) -> Any:
    """Make an HTTP Cloud Function report each request as a flow run (see the module docs).

    Usable bare (``@http_flow``) or with keywords (``@http_flow(name=..., ...)``): every
    :func:`skiff.flow` keyword, plus ``parameters`` (request -> dict, for a wrapped flow),
    ``timeout`` (seconds; default from the environment), ``timeout_margin``,
    ``flush_margin`` and ``timeout_state``. ``fn`` is ``handler(request)`` or a ``@flow``.
    A bad target or keyword raises :class:`~skiff.ValidationError` here. The returned
    function has ``.flow``.
    """
    _timeout_option("http_flow", options.get("timeout"))  # a bad value fails here, not later
    return decorate("http_flow", fn, options, _build_http, _EXTRA_OPTIONS)


@overload
def cloud_event_flow(fn: Callable[..., Any] | Flow[Any], /, **options: Any) -> GcpHandler: ...
@overload
def cloud_event_flow(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[..., Any] | Flow[Any]], GcpHandler]: ...
def cloud_event_flow(fn: Any = None, /, **options: Any) -> Any:
    """Make a CloudEvent Cloud Function report each event as a flow run (see the module docs).

    The same keywords as :func:`http_flow`; ``parameters`` maps the CloudEvent to a
    wrapped flow's parameters (default: the keys of its JSON ``data``). ``fn`` is
    ``handler(event)`` or a ``@flow``.
    """
    _timeout_option("cloud_event_flow", options.get("timeout"))
    return decorate("cloud_event_flow", fn, options, _build_event, _EXTRA_OPTIONS)
