"""What ``skiff.artifacts`` and ``skiff.variables`` share: sync/async dispatch, one request core.

**Dispatch** (Prefect's ``async_dispatch``). A public function such as
``create_markdown_artifact`` returns its async twin's coroutine when called from async code:
inside a task or flow run when that run's function is async, outside any run when an event
loop is running. ``_sync=True``/``False`` forces a side; ``fn.aio`` is the async twin.

**Requests.** An operation is written once, as a generator of *steps* (``client -> result``);
:func:`run` drives it with a :class:`~skiff.Client`, :func:`arun` with an
:class:`~skiff.AsyncClient` (awaiting each result). A step's error is thrown back into the
generator at its ``yield``, so ``except NotFoundError`` reads as in straight-line code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from skiff._engine import _context

if TYPE_CHECKING:
    from skiff.client import AsyncClient, Client
    from skiff.client._settings import Settings

__all__ = ["Step", "Steps", "arun", "dispatch", "in_async_context", "run", "settings"]

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
C = TypeVar("C")

Step = Callable[[Any], Any]  # one request: a client in, its result (or awaitable) out
Steps = Generator[Step, Any, R]


def _is_async(owner: Any) -> bool:
    for attr in ("isasync", "is_async"):
        value = getattr(owner, attr, None)
        if isinstance(value, bool):
            return value
    fn = getattr(owner, "fn", owner)
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def in_async_context() -> bool:
    """Prefect's rule: the current task's (else flow's) function is async; outside a run,
    an event loop is running."""
    task = _context.current_task()
    if task is not None:
        return _is_async(task.task)
    flow = _context.current_flow()
    if flow is not None:
        return _is_async(flow.flow)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def dispatch(
    async_impl: Callable[..., Coroutine[Any, Any, Any]] | classmethod[Any, Any, Any],
) -> Callable[[F], F]:
    """Decorate a sync function so that async callers get ``async_impl``'s coroutine instead.

    The result keeps the sync function's signature, as Prefect's do; under a ``classmethod``
    pass the async twin's classmethod.
    """
    impl: Callable[..., Any] = (
        async_impl.__func__ if isinstance(async_impl, classmethod) else async_impl
    )

    def decorate(sync_fn: F) -> F:
        @functools.wraps(sync_fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            forced = kwargs.pop("_sync", None)
            run_sync = bool(forced) if forced is not None else not in_async_context()
            return sync_fn(*args, **kwargs) if run_sync else impl(*args, **kwargs)

        wrapper.aio = impl  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def settings() -> Settings:
    """The current flow run's settings, else the environment's (``PREFECT_API_URL`` ...)."""
    flow = _context.current_flow()
    if flow is not None and flow.settings is not None:
        return flow.settings
    from skiff.client._settings import Settings

    return Settings.load()


class _Walk(Generic[C, R]):
    """What :func:`run` and :func:`arun` share: ``steps`` handed out one at a time.

    Iterating gives each step with the client to run it with: ``client``, else one made by
    ``make`` from :func:`settings` before the first step (so that validation in the generator
    comes before any configuration error), kept in ``own`` for the driver to close. The
    driver sets ``result`` (or ``error``, thrown back into the generator) after each step;
    ``value`` is what the generator returned.
    """

    def __init__(self, steps: Steps[R], client: C | None, make: Callable[..., C]) -> None:
        self.steps, self.client, self.make = steps, client, make
        self.own: C | None = None
        self.result: Any = None
        self.error: Exception | None = None
        self.value: R

    def __iter__(self) -> Iterator[tuple[Step, C]]:
        while True:
            try:
                if self.error is None:
                    step = self.steps.send(self.result)
                else:
                    step = self.steps.throw(self.error)
            except StopIteration as stop:
                self.value = cast(R, stop.value)
                return
            if self.client is None:
                self.client = self.own = self.make(settings=settings())
            self.result, self.error = None, None
            yield step, self.client


def run(steps: Steps[R], client: Client | None = None) -> R:
    """Drive ``steps`` with ``client``, or with a new one from :func:`settings` once a step
    needs it (so that validation in the generator comes before any configuration error)."""
    from skiff.client import Client

    walk = _Walk(steps, client, Client)
    try:
        for step, session in walk:
            try:
                walk.result = step(session)
            except Exception as exc:  # handed to the generator, which decides
                walk.error = exc
        return walk.value
    finally:
        if walk.own is not None:
            walk.own.close()


async def arun(steps: Steps[R], client: AsyncClient | None = None) -> R:
    """:func:`run` with an async client, awaiting each step's result."""
    from skiff.client import AsyncClient

    walk = _Walk(steps, client, AsyncClient)
    try:
        for step, session in walk:
            try:
                result = step(session)
                walk.result = await result if inspect.isawaitable(result) else result
            except Exception as exc:
                walk.error = exc
        return walk.value
    finally:
        if walk.own is not None:
            await walk.own.aclose()
