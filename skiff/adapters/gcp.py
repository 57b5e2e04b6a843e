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
* **Deployments.** A ``flow_run_id`` in the query, the JSON body or the event's data takes
  over that existing run (a deployment's, started by skiff's Cloud Functions worker) and
  its parameters, as ``PREFECT__FLOW_RUN_ID`` does for the whole process.
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

import inspect
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, overload

from skiff._exceptions import ValidationError
from skiff.adapters._builder import decorate
from skiff.adapters._core import Options, env_labels, loaded_class, summarize
from skiff.adapters._protocol import Call, TimeoutPlatform, Trigger
from skiff.client import _constants

if TYPE_CHECKING:
    from skiff._engine import Flow

__all__ = ["CloudEventPlatform", "HttpPlatform", "cloud_event_flow", "http_flow"]

# The header functions-framework (and the platform) puts each call's execution id in.
_EXECUTION_ID_HEADER = "Function-Execution-Id"

GcpHandler = Callable[[Any], Any]
"""What the decorators return: a function of one argument for functions-framework."""


def _request_kind(value: Any) -> str | None:
    """``"flask"``, ``"starlette"`` or None: which request type ``value`` is."""
    for kind, module in (("flask", "flask"), ("starlette", "starlette.requests")):
        cls = loaded_class(module, "Request")
        if cls is not None and isinstance(value, cls):
            return kind
    return None


def _is_cloud_event(value: Any) -> bool:
    cls = loaded_class("cloudevents.abstract", "CloudEvent")
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


def _run_id(fields: Any) -> str | None:
    # How a worker hands a deployment's run to the function (skiff.integrations.gcp).
    value = fields.get("flow_run_id") if isinstance(fields, Mapping) else None
    return str(value) if value else None


class _GcpPlatform(TimeoutPlatform):
    """What HTTP and CloudEvent functions share: one argument, the environment's facts."""

    timeout_env: ClassVar[tuple[str, ...]] = (
        _constants.ENV_GCP_FUNCTION_TIMEOUT,
        _constants.ENV_GCP_CLOUD_RUN_TIMEOUT,
    )
    kind: ClassVar[str]  # the gcp.trigger label
    argument: ClassVar[str]  # what the function gets, in messages
    parameter: ClassVar[str]  # the wrapper's parameter name

    def __init__(self, target: Any, options: Options) -> None:
        """Refuse a plain function that cannot take exactly one argument."""
        super().__init__(target, options)
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        self._signature = inspect.Signature([inspect.Parameter(self.parameter, kind)])
        if self.wraps_flow:
            return
        try:
            inspect.signature(target).bind(None)
        except TypeError:
            raise ValidationError(
                f"{self.owner}: {self.name!r} must take exactly one argument, the "
                f"{self.argument}: def handler({self.parameter}): ..."
            ) from None
        except ValueError:
            pass  # no signature to check (a builtin); the call will tell

    def signature(self) -> inspect.Signature:
        """One parameter: functions-framework calls ``handler(argument)``."""
        return self._signature

    def _one(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._signature.bind(*args, **kwargs).arguments[self.parameter]

    def labels(self, call: Call) -> dict[str, Any]:
        """``gcp.function.*``, ``gcp.region``, ``gcp.project``, ``gcp.trigger``, execution id."""
        out: dict[str, Any] = env_labels(_constants.GCP_LABEL_ENV)
        out["gcp.function.target"] = out["gcp.function.target"] or self.name
        out["gcp.trigger"] = self.kind
        return out

    def summarize(self, value: Any) -> Any:
        """A request by method, path, query and JSON body; an event by its attributes and data."""
        return _summarize(value)


class HttpPlatform(_GcpPlatform):
    """An HTTP Cloud Function: ``handler(request)``, a flask (or Starlette) request."""

    owner: ClassVar[str] = "http_flow"
    source: ClassVar[str] = "the HTTP request"
    kind: ClassVar[str] = "http"
    argument: ClassVar[str] = "flask.Request"
    parameter: ClassVar[str] = "request"

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The request; anything else raises :class:`~skiff.ValidationError`."""
        request = self._one(args, kwargs)
        if _request_kind(request) is None:
            raise ValidationError(
                f"{self.owner}: {self.name!r} was called with {type(request).__name__}, not "
                f"a flask.Request (or a Starlette Request under functions_framework.aio); "
                f"call it through functions-framework or pass a request"
            )
        return Call((request,), {}, request)

    async def load(self, call: Call) -> None:
        """A Starlette body, for a wrapped flow's default parameters (Starlette caches it)."""
        if self.wraps_flow and _request_kind(call.value) == "starlette":
            call.body = await call.value.body()

    def trigger(self, call: Call) -> Trigger:
        """The query string and JSON object body are the candidate parameters."""
        request = call.value
        if _request_kind(request) == "flask":
            fields = dict(request.args)
            payload = request.get_json(silent=True) if request.is_json else None
        else:
            fields = dict(request.query_params)
            payload = _json_data(call.body) if call.body else None
        if isinstance(payload, Mapping):
            fields.update(payload)
        return Trigger(request, fields=fields, flow_run_id=_run_id(fields))

    def labels(self, call: Call) -> dict[str, Any]:
        """The environment's labels and ``gcp.execution_id`` from the request's header."""
        out = super().labels(call)
        out["gcp.execution_id"] = call.value.headers.get(_EXECUTION_ID_HEADER)
        return out


class CloudEventPlatform(_GcpPlatform):
    """A CloudEvent Cloud Function: ``handler(event)``, a cloudevents ``CloudEvent``."""

    owner: ClassVar[str] = "cloud_event_flow"
    source: ClassVar[str] = "the CloudEvent"
    kind: ClassVar[str] = "cloudevent"
    argument: ClassVar[str] = "CloudEvent"
    parameter: ClassVar[str] = "event"

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The event; anything else raises :class:`~skiff.ValidationError`."""
        event = self._one(args, kwargs)
        if not _is_cloud_event(event):
            raise ValidationError(
                f"{self.owner}: {self.name!r} was called with {type(event).__name__}, not a "
                f"cloudevents CloudEvent; call it through functions-framework or pass "
                f"cloudevents.http.CloudEvent(attributes, data)"
            )
        return Call((event,), {}, event)

    def trigger(self, call: Call) -> Trigger:
        """The event's source and id are the idempotency key; its JSON data the parameters."""
        attributes = call.value.get_attributes()
        data = _json_data(call.value.data)
        return Trigger(
            call.value,
            # Retried deliveries keep the event's source and id (CloudEvents spec: unique pair).
            idempotency_key=f"gcp-cloudevent:{attributes.get('source')}:{attributes.get('id')}",
            fields=data if isinstance(data, Mapping) else {},
            flow_run_id=_run_id(data),
        )

    def labels(self, call: Call) -> dict[str, Any]:
        """The environment's labels, the execution id and ``gcp.event.*`` attributes."""
        out = super().labels(call)
        out["gcp.execution_id"] = _flask_execution_id()
        attributes = call.value.get_attributes()
        for key in ("id", "type", "source", "subject"):
            out[f"gcp.event.{key}"] = attributes.get(key)
        return out


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
    return decorate(HttpPlatform, fn, options)


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
    return decorate(CloudEventPlatform, fn, options)
