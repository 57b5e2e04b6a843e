"""Azure Functions adapter: each invocation of a v2-model function is one reported flow run.

Usage (``function_app.py``)::

    import azure.functions as func
    from skiff import get_run_logger, task
    from skiff.adapters.azure import azure_flow

    app = func.FunctionApp()

    @task
    def greet(name: str) -> str:
        return f"hello {name}"

    @app.route(route="hello")
    @azure_flow                        # below the app's decorators, next to the function
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(greet(req.params.get("name", "world")))

    @app.schedule(schedule="0 */5 * * * *", arg_name="timer")
    @azure_flow(name="cleanup", timeout=600)
    async def cleanup(timer: func.TimerRequest) -> None:
        get_run_logger().info("past due: %s", timer.past_due)

    # An existing @flow, fed by a queue message; arg_name names the trigger binding:
    app.queue_trigger(arg_name="msg", queue_name="orders", connection="Storage")(
        azure_flow(process_order, arg_name="msg", parameters=lambda msg: msg.get_json())
    )

What each invocation does:

* **Flow run.** A plain function becomes the flow run, with its trigger argument recorded
  as a parameter (an HTTP request by method, URL, query and JSON body; a queue message by
  id, dequeue count and body; a timer by its schedule status). A wrapped ``@flow`` gets
  its parameters from ``parameters=(trigger argument)`` or, by default, from the keys of
  the query, route parameters and JSON body (HTTP) or the JSON message (queue) that name
  its parameters. Return values pass through unchanged. Sync and async functions work.
* **Labels.** ``azure.invocation_id``, ``azure.function_name``, ``azure.trigger``
  (``http``, ``timer``, ``queue`` or ``other``), ``azure.queue.message_id``,
  ``azure.queue.dequeue_count``, ``azure.timer.past_due``, and ``azure.app`` and
  ``azure.region`` where the environment has them. The worker passes ``context`` to the
  wrapper even when the function does not declare it (the wrapper's signature asks for
  it), so the invocation id is always known. A queue message's id is the run's
  idempotency key: a retried message continues its run.
* **Deployments.** A ``flow_run_id`` in the query, route, JSON body or JSON queue message
  takes over that existing run (a deployment's, started by skiff's Azure Functions
  worker) and its parameters, as ``PREFECT__FLOW_RUN_ID`` does for the whole process.
* **Deadline.** Azure does not tell the worker its ``functionTimeout``, so it comes from
  ``timeout=`` seconds, else ``SKIFF_AZURE_FUNCTION_TIMEOUT`` (seconds or ``hh:mm:ss``),
  else ``AzureFunctionsJobHost__functionTimeout`` (the app-setting form of host.json's
  value), else none. ``timeout_margin`` seconds (1.0) before it, the run is marked
  TimedOut and flushed. Every report is flushed before the function returns.
* **Errors.** The function's exception is reported as Failed, flushed and re-raised
  unchanged, so the host's retries and error responses still apply. An error inside skiff
  is logged once and the function runs anyway. Calling the function without its trigger
  argument, or with the wrong type for a parameter annotated ``func.HttpRequest``,
  ``func.TimerRequest`` or ``func.QueueMessage``, raises :class:`~skiff.ValidationError`.

Works with azure-functions 1.x (Python 3.11) and 2.x (Python >= 3.13). Importing this
module does not import azure.functions.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, overload

from skiff._exceptions import ValidationError
from skiff.adapters._builder import decorate
from skiff.adapters._core import Options, env_labels, loaded_class, summarize
from skiff.adapters._protocol import Call, TimeoutPlatform, Trigger
from skiff.client import _constants

if TYPE_CHECKING:
    from skiff._engine import Flow

__all__ = ["AzurePlatform", "azure_flow", "parse_timespan"]

OWNER = "azure_flow"
# Its classes are recognised only once the user's code imported it (skiff never does).
_MODULE = "azure.functions"
# The trigger types skiff describes, by their public azure.functions class names.
_TRIGGERS = (("http", "HttpRequest"), ("timer", "TimerRequest"), ("queue", "QueueMessage"))
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def parse_timespan(text: str) -> float | None:
    """Seconds in an Azure setting: ``"300"``, ``"00:05:00"``, ``"1.00:00:00"``; ``"-1"``: None.

    Raises :class:`~skiff.ConfigurationError` (a ``ValueError``) for anything else.
    """
    from skiff._exceptions import ConfigurationError

    text = text.strip()
    if text == "-1":
        return None  # host.json's "no limit" (Premium and Dedicated plans)
    match = _TIMESPAN.match(text)
    try:
        if match:
            days, hours, minutes, seconds = match.groups()
            value = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60
            return value + float(seconds)
        value_f = float(text)
    except ValueError:
        value_f = -1.0
    if value_f < 0:
        raise ConfigurationError(
            f"{text!r} is not a timeout: use seconds (300), hh:mm:ss (00:05:00) or -1"
        )
    return value_f


def _trigger_kind(value: Any) -> str | None:
    for kind, name in _TRIGGERS:
        cls = loaded_class(_MODULE, name)
        if cls is not None and isinstance(value, cls):
            return kind
    return None


def _json_body(value: Any) -> Any:
    try:
        return value.get_json()
    except ValueError:
        body = value.get_body()
        return f"<{len(body)} bytes>" if isinstance(body, bytes) else body


def _summarize(value: Any) -> Any:
    kind = _trigger_kind(value)
    if kind == "http":
        recorded: dict[str, Any] = {
            "method": value.method,
            "url": value.url,
            "params": dict(value.params),
            "route_params": dict(value.route_params),
        }
        if value.get_body():
            recorded["json"] = _json_body(value)
        return summarize(recorded)
    if kind == "timer":
        return summarize({"past_due": value.past_due})
    if kind == "queue":
        return summarize(
            {"id": value.id, "dequeue_count": value.dequeue_count, "body": _json_body(value)}
        )
    context = loaded_class(_MODULE, "Context")
    if context is not None and isinstance(value, context):
        return {"invocation_id": value.invocation_id, "function_name": value.function_name}
    return summarize(value)


def _fields(kind: str | None, value: Any) -> dict[str, Any]:
    """Candidate parameters of a wrapped flow, from the trigger argument."""
    fields: dict[str, Any] = {}
    if kind == "http":
        fields.update(value.params)
        fields.update(value.route_params)
    payload = _json_body(value) if kind in ("http", "queue") and value.get_body() else None
    if isinstance(payload, Mapping):
        fields.update(payload)
    return fields


def _annotated_triggers(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameters annotated with a trigger class, for the call-time type check."""
    import typing

    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return {}  # unresolvable annotations: skip the check rather than refuse the function
    classes = [cls for _, name in _TRIGGERS if (cls := loaded_class(_MODULE, name)) is not None]
    return {name: hint for name, hint in hints.items() if hint in classes}


def _is_function_builder(target: Any) -> bool:
    kind = type(target)
    return kind.__name__ == "FunctionBuilder" and kind.__module__.startswith("azure.functions")


def _signature(target: Any, options: Options) -> tuple[inspect.Signature, bool]:
    """The wrapper's signature (what the worker binds), and whether the function takes context."""
    from skiff._engine import Flow

    arg_name = options.adapter["arg_name"]
    if isinstance(target, Flow):
        if arg_name is not None and (not isinstance(arg_name, str) or not arg_name.isidentifier()):
            raise ValidationError(f"{OWNER}: arg_name={arg_name!r} must be a parameter name")
        params = [inspect.Parameter(arg_name or "req", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        signature = inspect.Signature(params)
    else:
        if arg_name is not None:
            raise ValidationError(
                f"{OWNER}: arg_name= is for wrapping a @flow; a function's own parameter "
                f"names are its bindings"
            )
        signature = inspect.signature(target)
    if "context" in signature.parameters:
        return signature, True
    # Ask the worker for the context even when the function does not take it.
    params = list(signature.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, default=None))
    return signature.replace(parameters=params), False


class AzurePlatform(TimeoutPlatform):
    """A v2-model Azure function: bindings by parameter name, plus the worker's ``context``."""

    owner: ClassVar[str] = OWNER
    keywords: ClassVar[Mapping[str, Any]] = {**TimeoutPlatform.keywords, "arg_name": None}
    source: ClassVar[str] = "the Azure trigger"
    unnamed: ClassVar[str] = "function"
    timeout_env: ClassVar[tuple[str, ...]] = (
        _constants.ENV_AZURE_FUNCTION_TIMEOUT,
        _constants.ENV_AZURE_HOST_FUNCTION_TIMEOUT,
    )

    @staticmethod
    def parse_timeout(raw: str) -> float | None:
        """A timeout setting as :func:`parse_timespan` reads it (seconds or ``hh:mm:ss``)."""
        return parse_timespan(raw)

    def __init__(self, target: Any, options: Options) -> None:
        """Refuse a ``FunctionBuilder`` (azure_flow above the app's decorators), check arg_name."""
        if _is_function_builder(target):
            raise ValidationError(
                f"{OWNER} must be the decorator closest to the function, below @app.route, "
                f"@app.schedule, @app.queue_trigger and the other FunctionApp decorators"
            )
        super().__init__(target, options)
        self._signature, self._takes_context = _signature(target, options)
        fn = target.fn if self.wraps_flow else target
        self._checked = {} if self.wraps_flow else _annotated_triggers(fn)

    def signature(self) -> inspect.Signature:
        """The function's own parameters (or ``arg_name`` for a flow), plus ``context``."""
        return self._signature

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The bindings; ``context`` is passed on only if the function declares it.

        Raises :class:`~skiff.ValidationError` for a call the signature does not bind, or a
        binding of the wrong type for a parameter annotated with a trigger class.
        """
        try:
            bound = self._signature.bind(*args, **kwargs).arguments
        except TypeError as exc:
            raise ValidationError(f"{OWNER}: {self.name}() was called wrongly: {exc}") from None
        for param, cls in self._checked.items():
            if param in bound and not isinstance(bound[param], cls):
                raise ValidationError(
                    f"{OWNER}: {self.name}() got {type(bound[param]).__name__} for {param!r}, "
                    f"not {cls.__module__}.{cls.__qualname__}"
                )
        context = kwargs.get("context")
        if not self._takes_context:
            kwargs = {k: v for k, v in kwargs.items() if k != "context"}
        values = [v for k, v in bound.items() if k != "context"]
        value = next((v for v in values if _trigger_kind(v)), values[0] if values else None)
        return Call(args, kwargs, value, context)

    def trigger(self, call: Call) -> Trigger:
        """A queue message's id is the idempotency key; query, route and JSON the parameters."""
        kind = _trigger_kind(call.value)
        key = None
        if kind == "queue" and call.value.id:
            # A message the host retries keeps its id: the retry continues the same run.
            key = f"azure-queue:{call.value.id}"
        fields = _fields(kind, call.value)
        # How a worker hands a deployment's run to the function (skiff.integrations.azure).
        run_id = fields.get("flow_run_id")
        return Trigger(
            call.value,
            idempotency_key=key,
            fields=fields,
            flow_run_id=str(run_id) if run_id else None,
        )

    def labels(self, call: Call) -> dict[str, Any]:
        """``azure.*`` labels: the invocation, the trigger and the app's environment."""
        value, context = call.value, call.context
        kind = _trigger_kind(value)
        out: dict[str, Any] = {
            "azure.function_name": getattr(context, "function_name", None) or self.name,
            "azure.invocation_id": getattr(context, "invocation_id", None),
            "azure.trigger": kind or "other",
            **env_labels(_constants.AZURE_LABEL_ENV),
        }
        if kind == "queue":
            out["azure.queue.message_id"] = value.id
            out["azure.queue.dequeue_count"] = value.dequeue_count
        elif kind == "timer":
            out["azure.timer.past_due"] = bool(value.past_due)
        return out

    def summarize(self, value: Any) -> Any:
        """A trigger by its safe fields (an HTTP request, a timer, a queue message, context)."""
        return _summarize(value)


@overload
def azure_flow(fn: Callable[..., Any] | Flow[Any], /, **options: Any) -> Callable[..., Any]: ...
@overload
def azure_flow(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[..., Any] | Flow[Any]], Callable[..., Any]]: ...
def azure_flow(fn: Any = None, /, **options: Any) -> Any:
    """Make a v2-model Azure function report each invocation as a flow run (see module docs).

    Usable bare (``@azure_flow``) or with keywords (``@azure_flow(name=..., ...)``): every
    :func:`skiff.flow` keyword, plus ``parameters`` (trigger argument -> dict, for a
    wrapped flow), ``arg_name`` (the trigger binding's name when wrapping a flow; default
    ``"req"``), ``timeout`` (seconds), ``timeout_margin``, ``flush_margin`` and
    ``timeout_state``. Put it below the ``FunctionApp`` decorators. A bad target or
    keyword raises :class:`~skiff.ValidationError` here. The returned function has
    ``.flow``.
    """
    return decorate(AzurePlatform, fn, options)
