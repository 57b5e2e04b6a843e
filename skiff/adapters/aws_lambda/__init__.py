"""AWS Lambda adapter: ``lambda_flow`` runs each invocation as one reported flow run.

Usage::

    from skiff import task
    from skiff.adapters.aws_lambda import lambda_flow

    @task
    def double(x: int) -> int:
        return 2 * x

    @lambda_flow                      # or @lambda_flow(name="orders", retries=1, ...)
    def handler(event, context):
        return {"doubled": double(event["x"])}

    @lambda_flow(sqs_batch=True)      # one task run per SQS record; partial batch failures
    def on_message(record):
        process(json.loads(record["body"]))

    existing = lambda_flow(my_flow, parameters=lambda event: {"day": event["time"][:10]})

What each invocation does:

* **Flow run.** A plain handler becomes the flow run; its ``event`` is recorded as a
  parameter and the Lambda context by its safe fields. A wrapped ``@flow`` gets its
  parameters from ``parameters=(event)`` or, by default, from the event keys (for HTTP
  events: query string and JSON body) that name its parameters. The return value passes
  through unchanged (an HTTP response dict included).
* **Labels.** ``aws.lambda.request_id``, ``function_name``, ``function_arn``,
  ``function_version``, ``memory_mb``, ``cold_start``, ``trigger`` (see
  :func:`trigger_type`), ``event_source_arn`` and ``aws.region``.
* **Delivery.** The request id is the run's idempotency key: a retried asynchronous
  invocation (same request id) continues the same flow run, and a repeat of one that
  already completed does not run again (returns None). An event with ``flow_run_id``
  runs that existing run (a deployment's).
* **Deadline.** ``timeout_margin`` seconds (1.0) before
  ``context.get_remaining_time_in_millis()`` runs out, a timer marks the run TimedOut
  (``timeout_state="Crashed"``: Crashed) and flushes, so a run killed at its timeout is
  never left Running.
* **Respond first, report after.** skiff registers an internal Lambda extension during
  init (:mod:`~skiff.adapters.aws_lambda._extension`): the handler's value is posted at
  once, and the reports drain after it, before the extension calls ``next`` (Lambda
  freezes the sandbox only then), stopping ``flush_margin`` seconds (0.2) before the
  deadline; what is left then goes to the spool. Without the extension (not on Lambda,
  ``SKIFF_LAMBDA_EXTENSION=false``, or registration refused) the reports are flushed
  before the handler returns (:meth:`LambdaPlatform.settle`). The first invocation's log
  says which mode is in use. On SIGTERM (shutdown) what is buffered is flushed within
  Lambda's window. Provisioned-concurrency environments have no cold start; after a
  SnapStart restore the next invocation is one, with fresh connections.
* **Errors.** The handler's exception is reported as Failed, flushed, and re-raised
  unchanged, so Lambda's error response and retries still apply. An error inside skiff is
  logged once and the handler runs and returns anyway.
* **SQS.** With ``sqs_batch=True`` the function handles one record (``fn(record)`` or
  ``fn(record, context)``); each record is a task run, and the handler returns
  ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` for the records that
  raised (FIFO queues: also every record after the first failure, to keep order).
  Enable ``ReportBatchItemFailures`` on the event source mapping.

Nothing is written to disk (HOME may be read-only). Importing this module is cheap: the
runtime is imported when a handler is decorated.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, overload

from skiff._exceptions import ValidationError
from skiff.adapters._builder import decorate
from skiff.adapters._core import Options, first_env, summarize
from skiff.adapters._protocol import Call, Platform, Trigger

if TYPE_CHECKING:
    from skiff._engine import Flow

__all__ = ["LambdaPlatform", "lambda_flow", "trigger_type"]

OWNER = "lambda_flow"
LambdaHandler = Callable[[Any, Any], Any]
"""What ``lambda_flow`` returns: a ``handler(event, context)`` for the Lambda runtime."""

# The context fields recorded with a run (identity and client_context are left out).
_CONTEXT_FIELDS = (
    "aws_request_id",
    "function_name",
    "function_version",
    "invoked_function_arn",
    "memory_limit_in_mb",
    "log_group_name",
    "log_stream_name",
)
# Lambda calls handler(event, context); a wrapped flow's own signature does not apply.
_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter("event", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
    ]
)

_cold = True  # the first invocation in this process is the cold start


def trigger_type(event: Any) -> str:
    """The service that sent ``event``, from its shape (``"sqs"``, ``"api-gateway-v2"``, ...)."""
    from skiff.adapters.aws_lambda._events import trigger_type as detect

    return detect(event)


def _summarize(value: Any) -> Any:
    if hasattr(value, "get_remaining_time_in_millis") and hasattr(value, "aws_request_id"):
        return {name: _scalar(getattr(value, name, None)) for name in _CONTEXT_FIELDS}
    return summarize(value)


def _scalar(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _take_cold_start() -> bool:
    global _cold
    first, _cold = _cold, False
    if first:
        _log_mode()
    from skiff.adapters.aws_lambda._extension import cold_start

    return cold_start(first)


def after_restore() -> None:
    """After a SnapStart restore: the next invocation is this environment's cold start."""
    global _cold
    _cold = True


def _log_mode() -> None:
    # Once per environment, in the first invocation's log: how reports reach the server.
    import logging

    from skiff.adapters.aws_lambda import _extension

    mode = (
        "reports drain after the response (skiff's Lambda extension is registered)"
        if _extension.active() is not None
        else "reports are flushed before the response (no extension: " + _extension.why_not() + ")"
    )
    logging.getLogger("skiff").info("skiff on Lambda (%s init): %s", _extension.init_type(), mode)


def _region(arn: Any) -> str | None:
    region = first_env(("AWS_REGION", "AWS_DEFAULT_REGION"))
    if region:
        return region
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[3] if len(parts) > 3 and parts[3] else None


def metadata(event: Any, context: Any, kind: str, *, cold_start: bool) -> dict[str, Any]:
    """Flow-run labels for one invocation (None values are dropped later)."""
    from skiff.adapters.aws_lambda._events import record_source

    arn = getattr(context, "invoked_function_arn", None)
    memory = getattr(context, "memory_limit_in_mb", None)
    source_arn = None
    if record_source(event) is not None:
        first = event["Records"][0] if "Records" in event else {}
        source_arn = first.get("eventSourceARN") or first.get("EventSubscriptionArn")
    return {
        "aws.lambda.request_id": getattr(context, "aws_request_id", None),
        "aws.lambda.function_name": getattr(context, "function_name", None)
        or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "aws.lambda.function_arn": arn,
        "aws.lambda.function_version": getattr(context, "function_version", None),
        "aws.region": _region(arn),
        "aws.lambda.memory_mb": int(str(memory)) if str(memory or "").isdigit() else None,
        "aws.lambda.cold_start": cold_start,
        "aws.lambda.trigger": kind,
        "aws.lambda.event_source_arn": source_arn,
    }


def _sqs_records(fn: Callable[..., Any], event: Any) -> list[Any]:
    from skiff.adapters.aws_lambda._events import record_source

    if record_source(event) != "aws:sqs":
        raise TypeError(
            f"{fn.__name__} is a lambda_flow(sqs_batch=True) record handler, "
            f"but the event is not an SQS batch"
        )
    return list(event["Records"])


def _batch_handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A handler(event, context) that runs ``fn`` once per SQS record, each as a task run."""
    from skiff._engine import get_run_logger, task

    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    takes_context = len(positional) >= 2

    def run_name(parameters: dict[str, Any]) -> str:
        record = next(iter(parameters.values()), None)
        message_id = record.get("messageId") if isinstance(record, Mapping) else None
        return f"{fn.__name__}-{message_id}"

    record_task = task(fn, name=fn.__name__, task_run_name=run_name)

    def report(records: list[Any], failures: list[dict[str, Any]]) -> dict[str, Any]:
        if failures:
            get_run_logger().warning(
                "%d of %d SQS records failed: %s",
                len(failures),
                len(records),
                ", ".join(str(f["itemIdentifier"]) for f in failures),
            )
        return {"batchItemFailures": failures}

    def failed(record: Any, blocked: bool) -> tuple[dict[str, Any], bool]:
        # On a FIFO queue, every record after a failure must be retried too, in order.
        fifo = str(record.get("eventSourceARN", "")).endswith(".fifo")
        return {"itemIdentifier": record.get("messageId")}, blocked or fifo

    if inspect.iscoroutinefunction(fn):

        async def batch_async(event: Any, context: Any = None) -> dict[str, Any]:
            records, failures, blocked = _sqs_records(fn, event), [], False
            for record in records:
                try:
                    if blocked:
                        raise RuntimeError("skipped after an earlier FIFO failure")
                    args = (record, context) if takes_context else (record,)
                    await record_task(*args)
                except Exception:
                    item, blocked = failed(record, blocked)
                    failures.append(item)
            return report(records, failures)

        batch: Callable[..., Any] = batch_async
    else:

        def batch_sync(event: Any, context: Any = None) -> dict[str, Any]:
            records, failures, blocked = _sqs_records(fn, event), [], False
            for record in records:
                try:
                    if blocked:
                        raise RuntimeError("skipped after an earlier FIFO failure")
                    record_task(*((record, context) if takes_context else (record,)))
                except Exception:
                    item, blocked = failed(record, blocked)
                    failures.append(item)
            return report(records, failures)

        batch = batch_sync
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(batch, attr, getattr(fn, attr, None))
    return batch


class LambdaPlatform(Platform):
    """AWS Lambda: ``handler(event, context)``, the deadline from the context.

    The runtime (awslambdaric) calls the wrapper synchronously, so an async handler runs to
    completion inside it (``awaits = False``).
    """

    owner: ClassVar[str] = OWNER
    keywords: ClassVar[Mapping[str, Any]] = {"sqs_batch": False}
    source: ClassVar[str] = "the Lambda event and context"
    awaits: ClassVar[bool] = False

    def __init__(self, target: Any, options: Options) -> None:
        """With ``sqs_batch=True``, run ``target`` once per record (a plain function only).

        Decoration happens during the sandbox's init, the only time the in-process
        extension may register (:mod:`skiff.adapters.aws_lambda._extension`).
        """
        super().__init__(target, options)
        from skiff.adapters.aws_lambda import _extension

        _extension.setup()
        if options.adapter["sqs_batch"]:
            if self.wraps_flow:
                raise ValidationError(
                    f"{OWNER}(sqs_batch=True) takes a record handler function, not a @flow"
                )
            self.target = _batch_handler(target)

    @classmethod
    def check_options(cls, adapter: dict[str, Any]) -> None:
        """``sqs_batch=`` must be a bool."""
        if not isinstance(adapter["sqs_batch"], bool):
            raise ValidationError(f"{OWNER}: sqs_batch={adapter['sqs_batch']!r} must be a bool")

    def signature(self) -> inspect.Signature:
        """``(event, context=None)``."""
        return _SIGNATURE

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        """The event and the context; the handler gets both, positionally."""
        bound = _SIGNATURE.bind(*args, **kwargs)  # TypeError, as a plain function would
        event, context = bound.arguments["event"], bound.arguments.get("context")
        return Call((event, context), {}, event, context)

    def trigger(self, call: Call) -> Trigger:
        """The request id is the idempotency key; an event's ``flow_run_id`` names its run."""
        from skiff.adapters.aws_lambda._events import HTTP_TRIGGERS, http_fields

        event = call.value
        request_id = getattr(call.context, "aws_request_id", None)
        flow_run_id = event.get("flow_run_id") if isinstance(event, Mapping) else None
        env = event.get("env") if flow_run_id else None  # a worker's run: its env job variable
        return Trigger(
            event,
            # Lambda keeps the request id when it retries an asynchronous invocation.
            idempotency_key=f"aws-lambda:{request_id}" if request_id else None,
            flow_run_id=str(flow_run_id) if flow_run_id else None,
            fields=http_fields(event) if trigger_type(event) in HTTP_TRIGGERS else None,
            env=_string_map(env),
        )

    def labels(self, call: Call) -> dict[str, Any]:
        """``aws.lambda.*`` and ``aws.region`` (see the module docs); takes the cold start."""
        kind = trigger_type(call.value)
        return metadata(call.value, call.context, kind, cold_start=_take_cold_start())

    def remaining(self, call: Call) -> float | None:
        """``context.get_remaining_time_in_millis()``; None when called without a context."""
        remaining = getattr(call.context, "get_remaining_time_in_millis", None)
        return remaining() / 1000 if callable(remaining) else None

    def summarize(self, value: Any) -> Any:
        """The context by its safe fields; anything else as :func:`_core.summarize` does."""
        return _summarize(value)

    def settle(self, call: Call, drain: Callable[[], None]) -> None:
        """Respond first: with skiff's extension registered, ``drain`` is handed to it.

        It then runs after the response, before the extension calls ``next`` (so before
        the freeze); without the extension it runs here, before the response.
        """
        from skiff.adapters.aws_lambda import _extension

        extension = _extension.active()
        request_id = getattr(call.context, "aws_request_id", None)
        if extension is None or not extension.hand_off(request_id, drain):
            drain()


def _string_map(env: Any) -> dict[str, str] | None:
    if env is None:
        return None
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        import logging

        # Not worth losing the run over: it runs with the function's own environment.
        logging.getLogger("skiff").warning(
            '%s: ignored the event\'s "env" (%r): it must map names to strings; check the '
            "deployment's env job variable",
            OWNER,
            env,
        )
        return None
    return dict(env)


def describe(event: Any, context: Any = None) -> Trigger:
    """The :class:`Trigger` of one invocation, labels and deadline included (takes the cold start)."""
    default = LambdaPlatform(None, LambdaPlatform.configure({}))
    return default.describe(Call((event, context), {}, event, context))


@overload
def lambda_flow(fn: Callable[..., Any] | Flow[Any], /, **options: Any) -> LambdaHandler: ...
@overload
def lambda_flow(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[..., Any] | Flow[Any]], LambdaHandler]: ...
def lambda_flow(fn: Any = None, /, **options: Any) -> Any:
    """Make a Lambda handler report each invocation as a flow run (see the module docs).

    Usable bare (``@lambda_flow``) or with keywords (``@lambda_flow(name=..., ...)``):
    every :func:`skiff.flow` keyword, plus ``parameters`` (event -> dict, for a wrapped
    flow), ``sqs_batch``, ``timeout_margin``, ``flush_margin`` and ``timeout_state``.
    ``fn`` is a handler ``(event, context)`` or a ``@flow``. A bad target or keyword
    raises :class:`~skiff.ValidationError` here. The returned handler has ``.flow``.
    """
    return decorate(LambdaPlatform, fn, options)
