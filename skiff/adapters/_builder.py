"""The one wrapper builder: a :class:`~skiff.adapters._protocol.Platform` in, a decorator out.

What it does is the same on every platform:

* bare-or-with-arguments decorator plumbing (:func:`decorate`), with flow keywords passed
  to :func:`skiff.flow`, the common adapter keywords of
  :data:`~skiff.adapters._core.COMMON_OPTIONS` and the platform's own ``keywords``;
* one wrapper per decorated function (:func:`build`), async when the handler is and the
  runtime awaits it, sync otherwise; its signature is the platform's;
* a plain handler becomes the flow run (its call arguments, summarized when they are not
  JSON, are the run's parameters); an existing :class:`~skiff._engine.Flow` gets its
  parameters from the trigger through ``parameters=`` or by signature;
* the work before the body (creating the run) is bounded by the time left (see
  :func:`skiff._engine._budget.start_budget`); past it the body runs and the create waits
  in the reporter;
* a :class:`~skiff.adapters._guard.DeadlineGuard` marks the run before the platform
  kills the call, and :meth:`Platform.settle` lands the reports (by default a flush before
  returning, within one budget);
* fail open: an error inside skiff is logged once per kind and the handler still runs and
  returns; the user's exception is re-raised unchanged after its Failed state is settled;
* when the server's orchestration stops the run (a repeat of a completed delivery, a
  cancelled deployment run), the handler is not run and the wrapper returns None.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from skiff._exceptions import SkiffError, ValidationError
from skiff.adapters._core import Options, labels, log_once
from skiff.adapters._guard import DeadlineGuard, drain, settings
from skiff.adapters._protocol import Call, Platform, Trigger

if TYPE_CHECKING:
    from skiff._engine import Flow

__all__ = ["Runner", "build", "decorate"]

logger = logging.getLogger("skiff")


def decorate(platform: type[Platform], fn: Any, kwargs: Mapping[str, Any]) -> Any:
    """Bare-or-with-arguments plumbing for ``platform``'s decorator.

    ``@adapter`` builds the wrapper now; ``@adapter(**kwargs)`` validates the keywords now
    and returns a decorator. A bad target or keyword raises
    :class:`~skiff.ValidationError` at decoration time, never at call time.
    """
    options = platform.configure(kwargs)
    if fn is None:
        return functools.partial(_decorate_one, platform, options)
    return _decorate_one(platform, options, fn)


def _decorate_one(platform: type[Platform], options: Options, fn: Any) -> Any:
    from skiff._engine import Flow

    if not isinstance(fn, Flow) and (isinstance(fn, type) or not callable(fn)):
        raise ValidationError(f"{platform.owner} needs a function or a @flow, got {fn!r}")
    return build(platform(fn, options))


def build(platform: Platform) -> Callable[..., Any]:
    """The wrapper the runtime calls: sync, or async when the handler is and the runtime awaits.

    It keeps the handler's name and docs, has the platform's signature, and ``.flow``.
    """
    runner = Runner(platform)
    read = platform.read
    wrapper: Any
    if runner.is_async and platform.awaits:

        @functools.wraps(runner.wrapped)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            return await runner.run_async(read(args, kwargs))

        wrapper = wrapper_async
    else:

        @functools.wraps(runner.wrapped)
        def wrapper_sync(*args: Any, **kwargs: Any) -> Any:
            return runner.run(read(args, kwargs))

        wrapper = wrapper_sync
    # The runtime calls (or binds) the wrapper by these parameters, not the flow's.
    wrapper.__signature__ = platform.signature()
    wrapper.flow = runner.flow
    return wrapper  # type: ignore[no-any-return]


class _Box:
    """What one call's body did, so the runner can tell user errors from skiff's.

    Used as ``with box: box.value = fn(...)`` around the user's code.
    """

    __slots__ = ("done", "entered", "error", "value")

    def __init__(self) -> None:
        self.entered = False
        self.done = False
        self.error: BaseException | None = None
        self.value: Any = None

    def __enter__(self) -> _Box:
        self.entered = True
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is None:
            self.done = True
        else:
            self.error = error


class _Invocation:
    """One call's flow run: its parameters, its engine keywords and its guard."""

    __slots__ = ("box", "engine", "guard", "parameters", "token")

    def __init__(
        self, parameters: dict[str, Any], engine: dict[str, Any], guard: DeadlineGuard
    ) -> None:
        self.parameters = parameters
        self.engine = engine
        self.guard = guard
        self.box = _Box()
        self.token: contextvars.Token[Any] | None = None


class Runner:
    """Runs calls of one decorated handler (or wrapped flow) as flow runs.

    ``platform.target`` is the user's handler or a :class:`~skiff._engine.Flow`. For a
    handler, a flow named after it (or ``name=``) is built whose body calls the handler
    with the call's real arguments, while the run records ``platform.summarize``-d copies
    as parameters. ``wrapped`` is what the wrapper ``functools.wraps``. :meth:`run` and
    :meth:`run_async` are the thin sync and async drivers of one lifecycle.
    """

    def __init__(self, platform: Platform) -> None:
        from skiff._engine import Flow

        self.platform = platform
        self.owner = platform.owner
        self.options = platform.options
        target = platform.target
        self.wraps_flow = isinstance(target, Flow)
        # The real call of the current invocation, read by the flow's body.
        self._call: contextvars.ContextVar[tuple[Call, _Box]] = contextvars.ContextVar(
            f"skiff-call-{id(self)}"
        )
        if isinstance(target, Flow):
            self.wrapped: Any = target.fn
            flow_options = {**target.options, **self.options.flow}
        else:
            self.wrapped = target
            flow_options = dict(self.options.flow)
        self._signature = inspect.signature(self.wrapped)
        flow_options.setdefault(
            "name", getattr(self.wrapped, "__name__", "handler").replace("_", "-")
        )
        body = self._async_body() if _is_async(self.wrapped) else self._sync_body()
        self.flow: Flow[Any] = Flow(body, **flow_options)
        self.is_async = self.flow.is_async

    # ------------------------------------------------------------------ bodies
    def _call_args(self, recorded: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any], _Box]:
        call, box = self._call.get()
        if self.wraps_flow:
            # A wrapped flow gets the engine's parameters (a deployment run may add some).
            return (), recorded, box
        return call.args, call.kwargs, box

    def _sync_body(self) -> Callable[..., Any]:
        fn = self.wrapped

        @functools.wraps(fn)
        def body(**recorded: Any) -> Any:
            args, kwargs, box = self._call_args(recorded)
            with box:
                box.value = fn(*args, **kwargs)
            return box.value

        return body

    def _async_body(self) -> Callable[..., Any]:
        fn = self.wrapped

        @functools.wraps(fn)
        async def body(**recorded: Any) -> Any:
            args, kwargs, box = self._call_args(recorded)
            with box:
                box.value = await fn(*args, **kwargs)
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

    def _recorded(self, call: Call) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*call.args, **call.kwargs).arguments
        except TypeError:
            bound = {"args": list(call.args), **call.kwargs}
        return {name: self.platform.summarize(value) for name, value in bound.items()}

    # ------------------------------------------------------------------ one lifecycle
    def _describe(self, call: Call) -> Trigger:
        try:
            return self.platform.describe(call)
        except Exception as exc:
            log_once(f"reading {self.platform.source}", exc)
            return Trigger(call.value)

    def _begin(self, call: Call, trigger: Trigger) -> _Invocation | None:
        """The call's flow run, ready to start; None (logged) to run the user's code bare."""
        try:
            parameters = self.parameters_for(trigger) if self.wraps_flow else self._recorded(call)
            adapter = self.options.adapter
            state, margin = adapter["timeout_state"], adapter["timeout_margin"]
            guard = DeadlineGuard(
                trigger.deadline,
                margin,
                adapter["flush_margin"],
                state,
                f"{self.owner}: the invocation was about to reach its runtime deadline; skiff "
                f"marked the run {state} {margin:g}s before the runtime stops it",
            )
            engine = {
                "flow_run_id": trigger.flow_run_id,
                "idempotency_key": trigger.idempotency_key,
                "labels": labels(trigger.labels) or None,
                "tags": tuple(trigger.tags),
                "on_start": guard.start,
                "deadline": trigger.deadline,
            }
        except Exception as exc:
            log_once("preparing the flow run", exc)
            return None
        invocation = _Invocation(parameters, engine, guard)
        invocation.token = self._call.set((call, invocation.box))
        return invocation

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

    def _end(self, invocation: _Invocation) -> Callable[[], None]:
        """Forget the call and disarm the guard; the drain the platform settles with."""
        if invocation.token is not None:
            self._call.reset(invocation.token)
        invocation.guard.cancel()
        return functools.partial(drain, invocation.guard)

    def _bare(self, call: Call, trigger: Trigger) -> Any:
        """Run the user's code without skiff (after an internal error before it started)."""
        if self.wraps_flow:
            return self.wrapped(**self.parameters_for(trigger))
        return self.wrapped(*call.args, **call.kwargs)

    # ------------------------------------------------------------------ drivers
    def run(self, call: Call) -> Any:
        """Run one call as a flow run and return the handler's value (sync wrappers).

        Async handlers and flows run with ``asyncio.run``. Re-raises the user's exception
        unchanged after the platform settled the Failed state.
        """
        from skiff._engine import run_flow

        trigger = self._describe(call)
        invocation = self._begin(call, trigger)
        if invocation is None:
            try:
                return _run_sync(self._bare(call, trigger))
            finally:
                self.platform.settle(call, _nothing)  # (a Lambda extension waits for it)
        try:
            with _environment(trigger.env):
                return run_flow(self.flow, invocation.parameters, **invocation.engine)
        except BaseException as exc:
            returned, value = self._after_error(exc, invocation.box)
            if returned:
                return value
        finally:
            self.platform.settle(call, self._end(invocation))
        return _run_sync(self._bare(call, trigger))

    async def run_async(self, call: Call) -> Any:
        """:meth:`run` for async wrappers: awaits the flow in the caller's event loop."""
        import asyncio

        from skiff._engine import run_flow_async

        try:
            await self.platform.load(call)
        except Exception as exc:
            log_once(f"reading {self.platform.source}", exc)
        trigger = self._describe(call)
        invocation = self._begin(call, trigger)
        if invocation is None:
            return await _maybe_await(self._bare(call, trigger))
        try:
            with _environment(trigger.env):
                return await run_flow_async(self.flow, invocation.parameters, **invocation.engine)
        except BaseException as exc:
            returned, value = self._after_error(exc, invocation.box)
            if returned:
                return value
        finally:
            await asyncio.to_thread(self.platform.settle, call, self._end(invocation))
        return await _maybe_await(self._bare(call, trigger))


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    # A deployment's env job variable, for this run only: a warm process serves the next.
    if not env:
        yield
        return
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _nothing() -> None:
    """The drain of a call that reported nothing."""


def _strict() -> bool:
    current = settings()
    return bool(current is not None and current.strict)


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _run_sync(value: Any) -> Any:
    if inspect.iscoroutine(value):
        import asyncio

        return asyncio.run(value)
    return value


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
