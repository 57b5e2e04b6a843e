"""Futures of submitted task runs, and how task arguments are resolved and linked.

A submitted task runs on its flow's task runner (a thread pool; an async task runs
there in its own event loop, as in Prefect), so ``future.result()`` works in sync and
async flows alike, and ``await future`` works in async ones.

Arguments are resolved as Prefect resolves them: futures and states anywhere inside
lists, tuples, sets and dicts become their results, ``allow_failure(x)`` lets a failed
upstream through as its exception, ``quote(x)`` is passed untouched, and an upstream
that did not complete leaves the task ``NotReady`` (:class:`UpstreamTaskError`). The
same walk records the task run's ``task_inputs``: which upstream runs fed each argument.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from skiff._engine._annotations import BaseAnnotation, allow_failure, quote
from skiff._engine._errors import UpstreamTaskError
from skiff._engine._states import State

if TYPE_CHECKING:
    from skiff._engine._context import FlowRunContext

__all__ = [
    "DoneAndNotDoneFutures",
    "FutureList",
    "TaskRunFuture",
    "as_completed",
    "find_futures",
    "resolve",
    "resolve_futures_to_results",
    "resolve_futures_to_states",
    "task_inputs",
    "wait",
]

# Values with no inner futures and no identity worth linking (shared small objects).
_ATOMIC = (int, float, bool, str, bytes, type(None), complex)
_ATOMIC_TYPES = frozenset(_ATOMIC)


class TaskRunFuture:
    """A submitted task run: ``.result()``, ``.wait()``, ``.state``, ``.task_run_id``.

    Prefect's ``PrefectFuture`` API; also awaitable (``await future`` gives the result).
    """

    __slots__ = ("_engine", "_future")

    def __init__(self, engine: Any, future: concurrent.futures.Future[Any]) -> None:
        self._engine = engine
        self._future = future

    @property
    def task_run_id(self) -> uuid.UUID:
        """The task run's id (known at submit time)."""
        return uuid.UUID(self._engine.id)

    @property
    def state(self) -> State:
        """The task run's current state (final once it is done)."""
        state: State = self._engine.state
        return state

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run is over, or ``timeout`` seconds passed."""
        concurrent.futures.wait([self._future], timeout=timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The task's return value; raises its exception if it failed."""
        self.wait(timeout)
        if not self._future.done():
            from skiff._engine._errors import UnfinishedRun

            raise UnfinishedRun(
                f"task run {self._engine.name!r} is not finished after {timeout} second(s)"
            )
        return self.state.result(raise_on_failure=raise_on_failure)

    def add_done_callback(self, fn: Callable[[TaskRunFuture], Any]) -> None:
        """Call ``fn(future)`` once the run is over."""
        self._future.add_done_callback(lambda _f: fn(self))

    def done(self) -> bool:
        """Whether the run is over."""
        return self._future.done()

    def __await__(self) -> Any:
        return self._result_async().__await__()

    async def _result_async(self) -> Any:
        import asyncio

        await asyncio.wrap_future(self._future)
        return self.state.result()

    def __hash__(self) -> int:
        return hash(self._engine.id)

    def __repr__(self) -> str:
        return f"TaskRunFuture({self._engine.name!r}, state={self.state!r})"


class FutureList(list):  # type: ignore[type-arg]
    """The futures :meth:`Task.map` returns; ``.result()`` gives every result in order."""

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every future (``timeout`` bounds the whole wait)."""
        wait(self, timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> list[Any]:
        """Every result, in submission order."""
        self.wait(timeout)
        return [f.result(0 if timeout is not None else None, raise_on_failure) for f in self]


class DoneAndNotDoneFutures(NamedTuple):
    """What :func:`wait` returns."""

    done: set[TaskRunFuture]
    not_done: set[TaskRunFuture]


def wait(futures: Iterable[TaskRunFuture], timeout: float | None = None) -> DoneAndNotDoneFutures:
    """Wait for ``futures`` (at most ``timeout`` seconds); returns the done and the rest."""
    by_inner = {f._future: f for f in futures}
    done, not_done = concurrent.futures.wait(by_inner, timeout=timeout)
    return DoneAndNotDoneFutures({by_inner[f] for f in done}, {by_inner[f] for f in not_done})


def as_completed(
    futures: Iterable[TaskRunFuture], timeout: float | None = None
) -> Iterator[TaskRunFuture]:
    """Yield ``futures`` as they finish; raises :class:`TimeoutError` after ``timeout`` s."""
    by_inner = {f._future: f for f in futures}
    for inner in concurrent.futures.as_completed(by_inner, timeout=timeout):
        yield by_inner[inner]


def resolve_futures_to_states(value: Any) -> Any:
    """``value`` with every future inside it replaced by its final state."""
    return _walk(value, _final_state)


def _final_state(future: TaskRunFuture) -> State:
    future.wait()
    return future.state


def resolve_futures_to_results(value: Any) -> Any:
    """``value`` with every future inside it replaced by its result."""
    return _walk(value, lambda f: f.result())


def _walk(value: Any, leaf: Callable[[TaskRunFuture], Any]) -> Any:
    if isinstance(value, TaskRunFuture):
        return leaf(value)
    if isinstance(value, _ATOMIC):
        return value
    if isinstance(value, list):
        return [_walk(v, leaf) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_walk(v, leaf) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(_walk(v, leaf) for v in value)
    if isinstance(value, dict):
        return {k: _walk(v, leaf) for k, v in value.items()}
    return value


def find_futures(parameters: dict[str, Any], wait_for: Any = None) -> list[TaskRunFuture]:
    """Every future in a call's parameters and ``wait_for`` (not inside ``quote``), so a
    driver can wait for them before resolving."""
    found: list[TaskRunFuture] = []
    for value in parameters.values():
        if type(value) not in _ATOMIC_TYPES:
            _collect(value, found)
    if wait_for is not None:
        _collect(wait_for, found)
    return found


def _collect(value: Any, found: list[TaskRunFuture]) -> None:
    if isinstance(value, TaskRunFuture):
        found.append(value)
    elif isinstance(value, (*_ATOMIC, quote)):
        pass
    elif isinstance(value, BaseAnnotation):
        _collect(value.value, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _collect(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)


def _final(state: State, tolerate: bool) -> Any:
    if not state.is_completed() and not tolerate:
        task_run_id = state.details.get("task_run_id")
        raise UpstreamTaskError(
            f"Upstream task run '{task_run_id}' did not reach a 'COMPLETED' state."
        )
    return state.result(raise_on_failure=False)


def resolve(value: Any, tolerate: bool = False) -> Any:
    """``value`` with futures and states replaced by their results (Prefect's rules).

    Raises :class:`UpstreamTaskError` for an upstream that did not complete, unless it
    sits inside ``allow_failure``. Call it once every future inside is done.
    """
    if type(value) in _ATOMIC_TYPES or isinstance(value, _ATOMIC):
        return value
    if isinstance(value, TaskRunFuture):
        value.wait()
        return _final(value.state, tolerate)
    if isinstance(value, State):
        return _final(value, tolerate)
    if isinstance(value, quote):
        return value.value
    if isinstance(value, allow_failure):
        return resolve(value.value, True)
    if isinstance(value, BaseAnnotation):
        return resolve(value.value, tolerate)
    if isinstance(value, list):
        return [resolve(v, tolerate) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(resolve(v, tolerate) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve(v, tolerate) for v in value)
    if isinstance(value, dict):
        return {k: resolve(v, tolerate) for k, v in value.items()}
    return value


def _edges(value: Any, flow: FlowRunContext | None, out: list[dict[str, str]]) -> None:
    if isinstance(value, TaskRunFuture):
        edge = {"input_type": "task_run", "id": value._engine.id}
    elif isinstance(value, State):
        found = value.details.get("task_run_id")
        if found is None:
            return
        edge = {"input_type": "task_run", "id": str(found)}
    elif isinstance(value, quote) or _untrackable(value):
        return
    elif isinstance(value, BaseAnnotation):
        _edges(value.value, flow, out)
        return
    else:
        produced = flow.results.get(id(value)) if flow is not None else None
        if produced is not None and produced[0] is value:
            edge = {"input_type": "task_run", "id": produced[1]}
        elif isinstance(value, _ATOMIC):
            return
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                _edges(item, flow, out)
            return
        elif isinstance(value, dict):
            for item in value.values():
                _edges(item, flow, out)
            return
        else:
            return
    if edge not in out:
        out.append(edge)


def task_inputs(
    parameters: dict[str, Any],
    flow: FlowRunContext | None,
    wait_for: Iterable[Any] | None = None,
    parent_task_run_id: str | None = None,
) -> dict[str, list[dict[str, str]]]:
    """The ``task_inputs`` of a task run: upstream runs per parameter (Prefect's shape)."""
    inputs: dict[str, list[dict[str, str]]] = {}
    if parent_task_run_id is not None:
        inputs["__parents__"] = [{"input_type": "task_run", "id": parent_task_run_id}]
    for key, value in parameters.items():
        edges: list[dict[str, str]] = []
        _edges(value, flow, edges)
        inputs[key] = edges
    if wait_for:
        edges = []
        _edges(list(wait_for), flow, edges)
        inputs["wait_for"] = edges
    return inputs


def remember(flow: FlowRunContext | None, value: Any, task_run_id: str) -> None:
    """Note that ``value`` came from ``task_run_id``, for the edges of later task runs."""
    if flow is None or _untrackable(value):
        return
    flow.results[id(value)] = (value, task_run_id)


def _untrackable(value: Any) -> bool:
    # Shared objects (None, bools, the cached small ints): an edge from them would be a
    # guess, so Prefect does not track them either.
    return (
        value is None
        or value is True
        or value is False
        or (type(value) is int and -5 <= value <= 256)
    )
