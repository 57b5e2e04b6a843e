"""Machinery shared by the serverless adapters (AWS Lambda, Google Cloud, Azure).

A platform adapter describes each call of its handler as a :class:`Trigger` (metadata,
deadline, idempotency key, ...) and lets a :class:`Runner` run the call as one reported
flow run. Everything else is here and is the same on every platform:

* bare-or-with-arguments decorator plumbing (:func:`decorate`), with flow keywords passed
  to :func:`skiff.flow` and the common adapter keywords of :data:`COMMON_OPTIONS`;
* a plain handler becomes the flow run (its call arguments, summarized when they are not
  JSON, are the run's parameters); an existing :class:`~skiff._engine.Flow` gets its
  parameters from the trigger through ``parameters=`` or by signature;
* the work before the body (creating the run) is bounded by the time left (see
  :func:`skiff._engine._budget.start_budget`); past it the body runs and the create waits
  in the reporter;
* a deadline guard: a cancellable watcher marks the run TimedOut (or Crashed) and flushes
  before the platform kills the call, ``timeout_margin`` seconds ahead or three request
  latencies ahead, whichever is earlier, so the final state lands even on a slow server;
* a synchronous flush before returning, within one budget for every adapter:
  ``min(SKIFF_FLUSH_TIMEOUT, time left - flush_margin)``; what it could not send goes to
  the spool (``SKIFF_SPOOL_DIR``) before the platform freezes the process;
* fail open: an error inside skiff is logged once per kind and the handler still runs and
  returns; the user's exception is re-raised unchanged after its Failed state is flushed;
* when the server's orchestration stops the run (a repeat of a completed delivery, a
  cancelled deployment run), the handler is not run and the wrapper returns None.

API, for adapter modules::

    COMMON_OPTIONS                         # adapter keywords every adapter accepts, with defaults
    Options(flow, adapter)                 # validated keywords: flow options / adapter options
    parse_options(owner, kwargs, extra={}) -> Options        # raises ValidationError
    decorate(owner, fn, kwargs, build, extra={}) -> wrapper or decorator
        # build(target, options) -> wrapper; target is a callable or a Flow (checked)
    Trigger(event, labels={}, tags=(), idempotency_key=None, flow_run_id=None,
            deadline=None, fields=None)    # one call, as the platform sees it
    Runner(owner, target, options, summarize=summarize)
        .run(trigger, args, kwargs) -> Any            # sync wrapper body
        await .run_async(trigger, args, kwargs) -> Any  # async wrapper body
        .parameters_for(trigger) -> dict              # a wrapped Flow's parameters
        .flow, .wraps_flow, .is_async
    DeadlineGuard(deadline, margin, flush_margin, state_name, message)
    summarize(value) -> JSON-able value    # how non-JSON call arguments are recorded
    labels(mapping) -> dict                # drop None, stringify what the server can't take
    log_once(what, error)                  # an internal error: logged once per kind
    monotonic_deadline(seconds_left) -> float | None

Sketch of an adapter::

    def my_flow(fn=None, /, **kwargs):
        def build(target, options):
            runner = Runner("my_flow", target, options)

            @functools.wraps(runner.wrapped)
            def wrapper(request):
                trigger = Trigger(request.json, labels={"my.platform.id": request.id},
                                  deadline=monotonic_deadline(60))
                return runner.run(trigger, (request,), {})

            return wrapper

        return decorate("my_flow", fn, kwargs, build)

The trigger is built inside the wrapper; wrap that in ``try`` and fall back to
``Trigger.bare(args)`` after :func:`log_once`, so a bug there never breaks the handler.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skiff._exceptions import SkiffError, ValidationError

# Imported lazily (not at module import): msgspec, difflib and skiff._engine, so that
# importing an adapter stays cheap for a cold start.

if TYPE_CHECKING:
    from skiff._engine import Flow, RunHandle

__all__ = [
    "COMMON_OPTIONS",
    "DeadlineGuard",
    "Options",
    "Runner",
    "Trigger",
    "decorate",
    "labels",
    "log_once",
    "monotonic_deadline",
    "parse_options",
    "summarize",
]

logger = logging.getLogger("skiff")

COMMON_OPTIONS: Mapping[str, Any] = {
    # Maps the trigger's event to a wrapped flow's parameters: ``parameters(event) -> dict``.
    "parameters": None,
    # The guard marks the run this many seconds before the platform's deadline.
    "timeout_margin": 1.0,
    # Flushing stops this many seconds before the deadline, so the response still goes out.
    "flush_margin": 0.2,
    # The state the guard leaves: "TimedOut" (a FAILED state) or "Crashed".
    "timeout_state": "TimedOut",
}
"""Adapter keywords every adapter accepts, with their defaults."""

# Call arguments bigger than this (encoded JSON) are recorded as a size note, not verbatim,
# so a large batch cannot make the run's create request fail.
MAX_PARAMETER_BYTES = 64 * 1024

_TIMEOUT_STATES = {"TimedOut": "FAILED", "Crashed": "CRASHED"}


class Options:
    """Decorator keywords after validation: ``flow`` for :func:`skiff.flow`, ``adapter`` the rest."""

    __slots__ = ("adapter", "flow")

    # Plain classes rather than dataclasses here: building a dataclass costs a cold start ms.
    def __init__(self, flow: dict[str, Any], adapter: dict[str, Any]) -> None:
        self.flow = flow
        self.adapter = adapter

    def __repr__(self) -> str:
        return f"Options(flow={self.flow!r}, adapter={self.adapter!r})"


def _seconds(owner: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) >= 0:
        raise ValidationError(f"{owner}: {key}={value!r} must be a number of seconds >= 0")
    return float(value)


def parse_options(owner: str, kwargs: Mapping[str, Any], extra: Mapping[str, Any] = {}) -> Options:
    """Split and validate decorator keywords; raises :class:`~skiff.ValidationError`.

    ``extra`` holds the adapter's own keywords with their defaults (the adapter validates
    their values); :data:`COMMON_OPTIONS` are validated here.
    """
    import difflib

    from skiff._engine._options import FLOW_OPTIONS, check_flow_options

    adapter_keys = {**COMMON_OPTIONS, **extra}
    known = FLOW_OPTIONS | set(adapter_keys)
    for key in sorted(kwargs):
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(f"{owner}: unknown keyword argument {key!r}{hint}")
    flow = check_flow_options(owner, {k: v for k, v in kwargs.items() if k in FLOW_OPTIONS})
    adapter = {k: kwargs.get(k, default) for k, default in adapter_keys.items()}
    if adapter["parameters"] is not None and not callable(adapter["parameters"]):
        raise ValidationError(
            f"{owner}: parameters= must be a callable mapping the event to a dict, "
            f"got {adapter['parameters']!r}"
        )
    for key in ("timeout_margin", "flush_margin"):
        adapter[key] = _seconds(owner, key, adapter[key])
    if adapter["timeout_state"] not in _TIMEOUT_STATES:
        raise ValidationError(
            f"{owner}: timeout_state={adapter['timeout_state']!r} must be 'TimedOut' or 'Crashed'"
        )
    return Options(flow, adapter)


def _check_target(owner: str, target: Any) -> Any:
    from skiff._engine import Flow

    if isinstance(target, Flow):
        return target
    if isinstance(target, type) or not callable(target):
        raise ValidationError(f"{owner} needs a function or a @flow, got {target!r}")
    return target


def decorate(
    owner: str,
    fn: Any,
    kwargs: Mapping[str, Any],
    build: Callable[[Any, Options], Any],
    extra: Mapping[str, Any] = {},
) -> Any:
    """Bare-or-with-arguments plumbing for an adapter decorator.

    ``@adapter`` calls ``build(fn, options)`` now; ``@adapter(**kwargs)`` validates the
    keywords now and returns a decorator. A bad target or keyword raises
    :class:`~skiff.ValidationError` at decoration time, never at call time.
    """
    options = parse_options(owner, kwargs, extra)
    if fn is None:
        return functools.partial(_build, owner, build, options)
    return _build(owner, build, options, fn)


def _build(owner: str, build: Callable[[Any, Options], Any], options: Options, fn: Any) -> Any:
    return build(_check_target(owner, fn), options)


class Trigger:
    """One call of a handler, as the platform adapter describes it.

    ``event`` goes to ``parameters=``; ``fields`` are the candidate flow parameters for the
    default mapping (``event`` itself when None and a mapping); ``labels`` are flow-run
    labels; ``deadline`` is the :func:`time.monotonic` time at which the platform kills the
    call (None: no limit); ``flow_run_id`` takes over an existing run (a deployment's);
    ``idempotency_key`` makes a repeated delivery reuse its run.
    """

    __slots__ = ("deadline", "event", "fields", "flow_run_id", "idempotency_key", "labels", "tags")

    def __init__(
        self,
        event: Any = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        idempotency_key: str | None = None,
        flow_run_id: str | None = None,
        deadline: float | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self.event = event
        self.labels: dict[str, Any] = labels if labels is not None else {}
        self.tags = tags
        self.idempotency_key = idempotency_key
        self.flow_run_id = flow_run_id
        self.deadline = deadline
        self.fields = fields

    def __repr__(self) -> str:
        return (
            f"Trigger(labels={self.labels!r}, idempotency_key={self.idempotency_key!r}, "
            f"flow_run_id={self.flow_run_id!r}, deadline={self.deadline!r})"
        )

    @classmethod
    def bare(cls, args: Sequence[Any]) -> Trigger:
        """The trigger used when describing the call failed: the first argument as event."""
        return cls(event=args[0] if args else None)


def monotonic_deadline(seconds_left: float | None) -> float | None:
    """The :func:`time.monotonic` deadline ``seconds_left`` from now (None stays None)."""
    return None if seconds_left is None else time.monotonic() + max(0.0, seconds_left)


_logged: set[tuple[str, type[BaseException]]] = set()
_logged_lock = threading.Lock()


def log_once(what: str, error: BaseException) -> None:
    """Log an internal skiff error with its traceback once per (what, type); later ones at debug."""
    key = (what, type(error))
    with _logged_lock:
        first = key not in _logged
        _logged.add(key)
    if first:
        logger.error(
            "skiff: %s failed; the handler runs on without it: %s: %s",
            what,
            type(error).__name__,
            error,
            exc_info=error,
        )
    else:
        logger.debug("skiff: %s failed again: %r", what, error)


def summarize(value: Any) -> Any:
    """How a call argument is recorded as a parameter: JSON as is, anything else by type.

    Objects (a Lambda context, an HTTP request, ...) become ``"<module.Type>"``: their
    repr may be long or hold secrets. Values over 64 KiB of JSON become a size note.
    """
    import msgspec

    try:
        size = len(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError):
        kind = type(value)
        return f"<{kind.__module__}.{kind.__qualname__}>"
    if size > MAX_PARAMETER_BYTES:
        return {"skiff.omitted": f"{type(value).__name__} of {size} bytes of JSON"}
    return value


def labels(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Flow-run labels from metadata: None values dropped, non-scalars stringified."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, (str, bool, int, float)) else str(value)
    return out


class DeadlineGuard:
    """A cancellable watcher that ends the run before ``deadline``.

    It fires ``max(margin, LATENCY_FACTOR x the request latency seen)`` seconds before the
    deadline, calls :meth:`RunHandle.crash` with ``state_name`` (TimedOut: FAILED,
    Crashed: CRASHED) and ``message``, then flushes (and spools) until
    ``deadline - flush_margin``.
    """

    def __init__(
        self,
        deadline: float | None,
        margin: float,
        flush_margin: float,
        state_name: str = "TimedOut",
        message: str = "",
    ) -> None:
        self.deadline = deadline
        self.margin = margin
        self.flush_margin = flush_margin
        self.state_name = state_name
        self.message = message
        self.fired = threading.Event()
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._span = 0.0  # seconds the call had left when the guard was armed

    def start(self, handle: RunHandle) -> None:
        """Arm the guard for this run (the engine's ``on_start``); no-op without a deadline."""
        if self.deadline is None:
            return
        self._span = self.deadline - time.monotonic()
        # A daemon thread never keeps a finished process alive.
        watcher = threading.Thread(
            target=self._watch, args=(handle, self.deadline), daemon=True, name="skiff-guard"
        )
        with self._lock:
            if not self._cancelled.is_set():
                watcher.start()

    def cancel(self) -> None:
        """Disarm the guard (the call ended in time)."""
        with self._lock:
            self._cancelled.set()

    def lead(self, handle: RunHandle) -> float:
        """How long before the deadline the guard fires, at the latency seen now.

        Never more than half the time the call had when armed: one slow request must not
        end a run before its body had a chance.
        """
        from skiff._engine._budget import LATENCY_FACTOR

        wanted = max(self.margin, LATENCY_FACTOR * handle.latency())
        return min(wanted, max(self.margin, self._span / 2))

    def flush_budget(self, flush_timeout: float = math.inf) -> float:
        """Seconds a flush may take now: ``min(flush_timeout, deadline - flush_margin - now)``."""
        from skiff._engine._budget import flush_budget

        return flush_budget(flush_timeout, self.deadline, self.flush_margin)

    def _watch(self, handle: RunHandle, deadline: float) -> None:
        while True:
            left = deadline - self.lead(handle) - time.monotonic()
            if left <= 0:
                break
            if self._cancelled.wait(min(left, 0.25)):
                return
        self._fire(handle)

    def _fire(self, handle: RunHandle) -> None:
        from skiff._engine._flows import flush_before_freeze

        try:
            with self._lock:
                if self._cancelled.is_set():
                    return
                self.fired.set()
            handle.crash(
                self.message,
                state_name=self.state_name,
                state_type=_TIMEOUT_STATES[self.state_name],
            )
            flush_before_freeze(self.flush_budget())
        except Exception as exc:
            log_once("the deadline guard", exc)


class _Box:
    """What one call's body did, so the runner can tell user errors from skiff's."""

    __slots__ = ("done", "entered", "error", "value")

    def __init__(self) -> None:
        self.entered = False
        self.done = False
        self.error: BaseException | None = None
        self.value: Any = None


class Runner:
    """Runs calls of one decorated handler (or wrapped flow) as flow runs.

    ``target`` is the user's handler or a :class:`~skiff._engine.Flow`. For a handler,
    a flow named after it (or ``name=``) is built whose body calls the handler with the
    call's real arguments, while the run records ``summarize``-d copies as parameters.
    ``wrapped`` is what the adapter's wrapper should ``functools.wraps``.
    """

    def __init__(
        self,
        owner: str,
        target: Any,
        options: Options,
        summarize: Callable[[Any], Any] = summarize,
    ) -> None:
        from skiff._engine import Flow

        self.owner = owner
        self.options = options
        self.summarize = summarize
        self.wraps_flow = isinstance(target, Flow)
        # The real call of the current invocation, read by the flow's body.
        self._call: contextvars.ContextVar[tuple[tuple[Any, ...], dict[str, Any], _Box]] = (
            contextvars.ContextVar(f"skiff-call-{id(self)}")
        )
        if isinstance(target, Flow):
            self.wrapped: Any = target.fn
            flow_options = {**target.options, **options.flow}
        else:
            self.wrapped = target
            flow_options = dict(options.flow)
        self._signature = inspect.signature(self.wrapped)
        flow_options.setdefault(
            "name", getattr(self.wrapped, "__name__", "handler").replace("_", "-")
        )
        body = self._async_body() if _is_async(self.wrapped) else self._sync_body()
        self.flow: Flow[Any] = Flow(body, **flow_options)
        self.is_async = self.flow.is_async

    # ------------------------------------------------------------------ bodies
    def _call_args(self, recorded: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any], _Box]:
        args, kwargs, box = self._call.get()
        if self.wraps_flow:
            # A wrapped flow gets the engine's parameters (a deployment run may add some).
            return (), recorded, box
        return args, kwargs, box

    def _sync_body(self) -> Callable[..., Any]:
        fn = self.wrapped

        @functools.wraps(fn)
        def body(**recorded: Any) -> Any:
            args, kwargs, box = self._call_args(recorded)
            box.entered = True
            try:
                box.value = fn(*args, **kwargs)
            except BaseException as exc:
                box.error = exc
                raise
            box.done = True
            return box.value

        return body

    def _async_body(self) -> Callable[..., Any]:
        fn = self.wrapped

        @functools.wraps(fn)
        async def body(**recorded: Any) -> Any:
            args, kwargs, box = self._call_args(recorded)
            box.entered = True
            try:
                box.value = await fn(*args, **kwargs)
            except BaseException as exc:
                box.error = exc
                raise
            box.done = True
            return box.value

        return body

    # ------------------------------------------------------------------ parameters
    def parameters_for(self, trigger: Trigger) -> dict[str, Any]:
        """A wrapped flow's parameters: ``parameters=(event)``, else the matching fields.

        The default takes the keys of ``trigger.fields`` (or of the event, when it is a
        mapping) that name a parameter of the flow, or all of them when the flow takes
        ``**kwargs``.
        """
        mapper = self.options.adapter["parameters"]
        if mapper is not None:
            result = mapper(trigger.event)
            if not isinstance(result, Mapping):
                raise TypeError(f"parameters= returned {type(result).__name__}, not a dict")
            return dict(result)
        fields = trigger.fields
        if fields is None:
            fields = trigger.event if isinstance(trigger.event, Mapping) else {}
        params = self._signature.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return dict(fields)
        return {k: v for k, v in fields.items() if k in params}

    def _recorded(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs).arguments
        except TypeError:
            bound = {"args": list(args), **kwargs}
        return {name: self.summarize(value) for name, value in bound.items()}

    # ------------------------------------------------------------------ running
    def _prepare(
        self, trigger: Trigger, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Any], _Box, DeadlineGuard]:
        parameters = (
            self.parameters_for(trigger) if self.wraps_flow else self._recorded(args, kwargs)
        )
        state = self.options.adapter["timeout_state"]
        margin = self.options.adapter["timeout_margin"]
        guard = DeadlineGuard(
            trigger.deadline,
            margin,
            self.options.adapter["flush_margin"],
            state,
            f"{self.owner}: the invocation was about to reach its runtime deadline; skiff "
            f"marked the run {state} {margin:g}s before the runtime stops it",
        )
        return parameters, _Box(), guard

    def _engine_kwargs(self, trigger: Trigger, guard: DeadlineGuard) -> dict[str, Any]:
        return {
            "flow_run_id": trigger.flow_run_id,
            "idempotency_key": trigger.idempotency_key,
            "labels": labels(trigger.labels) or None,
            "tags": tuple(trigger.tags),
            "on_start": guard.start,
            "deadline": trigger.deadline,
        }

    def _bare(self, trigger: Trigger, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the user's code without skiff (after an internal error before it started)."""
        if self.wraps_flow:
            return self.wrapped(**self.parameters_for(trigger))
        return self.wrapped(*args, **kwargs)

    def _after_error(self, exc: BaseException, box: _Box) -> tuple[bool, Any]:
        """Decide after run_flow raised: (True, value) to return, or (False, None) to run bare."""
        from skiff._engine import OrchestrationError

        if box.error is exc:
            raise exc
        if isinstance(exc, OrchestrationError) and not box.entered:
            # The server's decision, not a failure: a repeated delivery of work that already
            # completed, or a (deployment) run that was cancelled. The body does not run.
            logger.warning("skiff: not running the handler: %s", exc)
            return True, None
        if isinstance(exc, SkiffError) and _strict():
            raise exc
        if box.done:
            log_once("reporting the flow run", exc)
            return True, box.value
        if box.entered:
            # The user's code ran and failed in a way skiff wrapped: never swallow that.
            raise exc
        log_once("starting the flow run", exc)
        return False, None

    def run(self, trigger: Trigger, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run one call as a flow run and return the handler's value (sync wrappers).

        Async handlers and flows run with ``asyncio.run``. Re-raises the user's exception
        unchanged after the Failed state is flushed.
        """
        from skiff._engine import run_flow

        try:
            parameters, box, guard = self._prepare(trigger, args, kwargs)
            engine = self._engine_kwargs(trigger, guard)
        except Exception as exc:
            log_once("preparing the flow run", exc)
            return self._bare_sync(trigger, args, kwargs)
        token = self._call.set((args, kwargs, box))
        try:
            return run_flow(self.flow, parameters, **engine)
        except BaseException as exc:
            returned, value = self._after_error(exc, box)
            if returned:
                return value
        finally:
            self._call.reset(token)
            guard.cancel()
            _settle(guard)
        return self._bare_sync(trigger, args, kwargs)

    def _bare_sync(self, trigger: Trigger, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = self._bare(trigger, args, kwargs)
        if inspect.iscoroutine(value):
            import asyncio

            return asyncio.run(value)
        return value

    async def run_async(
        self, trigger: Trigger, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """:meth:`run` for async wrappers: awaits the flow in the caller's event loop."""
        import asyncio

        from skiff._engine import run_flow_async

        try:
            parameters, box, guard = self._prepare(trigger, args, kwargs)
            engine = self._engine_kwargs(trigger, guard)
        except Exception as exc:
            log_once("preparing the flow run", exc)
            return await _maybe_await(self._bare(trigger, args, kwargs))
        token = self._call.set((args, kwargs, box))
        try:
            return await run_flow_async(self.flow, parameters, **engine)
        except BaseException as exc:
            returned, value = self._after_error(exc, box)
            if returned:
                return value
        finally:
            self._call.reset(token)
            guard.cancel()
            await asyncio.to_thread(_settle, guard)
        return await _maybe_await(self._bare(trigger, args, kwargs))


def _settings() -> Any:
    from skiff.client._settings import Settings

    try:
        return Settings.load()
    except Exception:
        return None


def _strict() -> bool:
    settings = _settings()
    return bool(settings is not None and settings.strict)


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _settle(guard: DeadlineGuard) -> None:
    """Flush within the one budget, then spool what is left, before the platform freezes."""
    from skiff._engine._flows import flush_before_freeze

    try:
        settings = _settings()
        budget = guard.flush_budget(settings.flush_timeout if settings else math.inf)
        if budget > 0:
            flush_before_freeze(budget)
    except Exception as exc:
        log_once("flushing reports", exc)
