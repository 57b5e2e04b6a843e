"""The bounded hand-off between a subscription's background reader and its consumer.

The subscription source is written once, in ``_async/_streams.py``, and the sync twin is
generated from it; the one thing that cannot be a token substitution is *how* the reader runs
beside the consumer. So both shapes live here, by hand, under names unasync maps onto each
other: :class:`AsyncPump` (asyncio tasks, one event loop) and :class:`Pump` (daemon threads).

A pump holds at most ``maxsize`` items. ``put`` never blocks: it answers False when full, and
the reader decides what that means (the subscriptions close the socket and resume later, so
the server, not this process, holds what the consumer has not read yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["AsyncPump", "Pump"]

T = TypeVar("T")

# How long closing waits for a reader thread before leaving it to die with the process.
_JOIN_TIMEOUT = 5.0


class AsyncPump(Generic[T]):
    """A bounded queue plus the tasks that fill it, for one event loop."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._error: BaseException | None = None
        self._stopped = False
        self._ready = False
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def stopped(self) -> bool:
        """Whether the consumer closed the subscription (or a fatal error ended it)."""
        return self._stopped or self._error is not None

    def _notify(self) -> None:
        # Event.set wakes every current waiter; each re-checks its own condition.
        self._changed.set()

    async def _wait(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def put(self, item: T) -> bool:
        """Queue ``item``; False (and nothing queued) when the pump is full."""
        if len(self._items) >= self.maxsize:
            return False
        self._items.append(item)
        self._notify()
        return True

    def set_ready(self) -> None:
        """Mark the first subscription as established."""
        self._ready = True
        self._notify()

    def fail(self, error: BaseException) -> None:
        """End the stream with ``error``, raised once the queued items are consumed."""
        if self._error is None:
            self._error = error
        self._notify()

    def stop(self) -> None:
        """End the stream: readers stop, ``get`` ends iteration."""
        self._stopped = True
        self._notify()

    async def get(self) -> T:
        """The next item; the fatal error once none are left; StopAsyncIteration when stopped."""
        while True:
            if self._stopped:
                raise StopAsyncIteration
            if self._items:
                item = self._items.popleft()
                self._notify()
                return item
            if self._error is not None:
                raise self._error
            await self._wait()

    async def wait_ready(self) -> None:
        """Return once subscribed; raise the fatal error if subscribing failed."""
        while not self._ready:
            if self._error is not None:
                raise self._error
            if self._stopped:
                return
            await self._wait()

    async def wait_room(self) -> None:
        """Return once the consumer has drained the pump to half full (or it stopped)."""
        while len(self._items) > self.maxsize // 2 and not self.stopped:
            await self._wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep, cut short when the pump stops (a closed subscription never waits out a backoff)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not self.stopped:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wait(), left)

    def spawn(self, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` as a task; an unexpected exception ends the stream with it."""

        async def guarded() -> None:
            try:
                await run()
            except Exception as exc:  # a reader bug must reach the consumer, not vanish
                self.fail(exc)

        self._tasks.append(asyncio.get_running_loop().create_task(guarded()))

    async def join(self) -> None:
        """Stop and cancel every task, and wait for them."""
        self.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Pump(Generic[T]):
    """A bounded queue plus the daemon threads that fill it."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._error: BaseException | None = None
        self._stopped = False
        self._ready = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def stopped(self) -> bool:
        """Whether the consumer closed the subscription (or a fatal error ended it)."""
        return self._stopped or self._error is not None

    def put(self, item: T) -> bool:
        """Queue ``item``; False (and nothing queued) when the pump is full."""
        with self._cond:
            if len(self._items) >= self.maxsize:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def set_ready(self) -> None:
        """Mark the first subscription as established."""
        with self._cond:
            self._ready = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """End the stream with ``error``, raised once the queued items are consumed."""
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    def stop(self) -> None:
        """End the stream: readers stop, ``get`` ends iteration."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def get(self) -> T:
        """The next item; the fatal error once none are left; StopIteration when stopped."""
        with self._cond:
            while True:
                if self._stopped:
                    raise StopIteration
                if self._items:
                    item = self._items.popleft()
                    self._cond.notify_all()
                    return item
                if self._error is not None:
                    raise self._error
                self._cond.wait()

    def wait_ready(self) -> None:
        """Return once subscribed; raise the fatal error if subscribing failed."""
        with self._cond:
            while not self._ready:
                if self._error is not None:
                    raise self._error
                if self._stopped:
                    return
                self._cond.wait()

    def wait_room(self) -> None:
        """Return once the consumer has drained the pump to half full (or it stopped)."""
        with self._cond:
            while len(self._items) > self.maxsize // 2 and not self.stopped:
                self._cond.wait()

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short when the pump stops (a closed subscription never waits out a backoff)."""
        with self._cond:
            self._cond.wait_for(lambda: self.stopped, timeout=seconds)

    def spawn(self, run: Callable[[], None]) -> None:
        """Run ``run`` in a daemon thread; an unexpected exception ends the stream with it."""

        def guarded() -> None:
            try:
                run()
            except Exception as exc:  # a reader bug must reach the consumer, not vanish
                self.fail(exc)

        thread = threading.Thread(target=guarded, name="skiff-subscription", daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        """Stop, and wait (briefly) for every thread."""
        self.stop()
        threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
