"""``timeout_seconds``: stop a run's code when its time is up.

In the main thread a SIGALRM timer interrupts even a blocking ``time.sleep``. Elsewhere
(thread-pool tasks, or when a timer is already running) a watchdog thread raises the
error inside the run's thread with ``PyThreadState_SetAsyncExc``; Python delivers it at
the next bytecode, so a call blocked in C finishes first. Async code uses
``asyncio.wait_for``.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from skiff._exceptions import SkiffError

__all__ = [
    "FlowRunTimeoutError",
    "RunTimeoutError",
    "TaskRunTimeoutError",
    "async_deadline",
    "deadline",
]

T = TypeVar("T")


class RunTimeoutError(SkiffError, TimeoutError):
    """A flow or task run went past its ``timeout_seconds``; its state is ``TimedOut``."""


class FlowRunTimeoutError(RunTimeoutError):
    """A flow run went past its ``timeout_seconds`` (Prefect's name)."""


class TaskRunTimeoutError(RunTimeoutError):
    """A task run went past its ``timeout_seconds`` (Prefect's name)."""


def _message(seconds: float) -> str:
    return f"Scope timed out after {seconds} second(s)."


def _bound(error: type[RunTimeoutError], seconds: float) -> type[RunTimeoutError]:
    # PyThreadState_SetAsyncExc raises a class, called without arguments: this one
    # carries the message, under the same name.
    message = _message(seconds)

    def init(self: RunTimeoutError) -> None:
        error.__init__(self, message)

    return type(error.__name__, (error,), {"__init__": init, "__module__": error.__module__})


@contextlib.contextmanager
def deadline(seconds: float, error: type[RunTimeoutError] = RunTimeoutError) -> Iterator[None]:
    """Raise ``error`` in this thread if the block lasts over ``seconds``."""
    can_signal = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if can_signal:

        def _raise_timeout(_signum: int, _frame: Any) -> None:
            raise error(_message(seconds))

        previous = signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    target = threading.get_ident()
    raised = _bound(error, seconds)
    lock = threading.Lock()
    active = [True]

    def fire() -> None:
        with lock:
            if active[0]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(raised)
                )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            active[0] = False
        timer.cancel()


async def async_deadline(
    awaitable: Awaitable[T], seconds: float | None, error: type[RunTimeoutError] = RunTimeoutError
) -> T:
    """Await with a timeout, raising ``error`` when it runs out."""
    if seconds is None:
        return await awaitable
    import asyncio

    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise error(_message(seconds)) from None
