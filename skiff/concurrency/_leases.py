"""Keeping a lease alive while its block runs, and releasing what a cancelled holder left.

A :class:`LeaseKeeper` is a daemon thread, as in Prefect 3.9.1: it renews the lease at
once (``POST /v2/concurrency_limits/leases/{id}/renew``), then every 75% of
``lease_duration``; each renewal is tried 3 times with backoff. When all 3 fail it logs
Prefect's lines and, with ``raise_on_lease_renewal_failure``, calls ``on_lost``: the sync
driver raises :class:`~skiff.concurrency.asyncio.ConcurrencyLeaseLostError` in the body's
thread (:class:`ThreadInterrupt`), the async one cancels the body's task.

:class:`ConcurrencyContext` (Prefect's ``prefect.concurrency.context.ConcurrencyContext``)
is entered by the engine around a run: leases are recorded the moment they are granted and
removed once released, so whatever a cancellation left behind is released on exit.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from skiff.concurrency._core import DECREMENT_WITH_LEASE, logger, run_logger

if TYPE_CHECKING:
    from skiff.client._sync._transport import Transport

__all__ = [
    "ConcurrencyContext",
    "LeaseKeeper",
    "TaskInterrupt",
    "ThreadInterrupt",
    "discard",
    "record",
    "release",
]

RENEWAL_FRACTION = 0.75
RENEWAL_ATTEMPTS = 3
RENEWAL_BASE_DELAY, RENEWAL_MAX_DELAY = 1.0, 10.0
RENEWAL_JITTER = 0.3
RENEWAL_JOIN_SECONDS = 2.0  # how long a sync exit waits for the renewal thread


def release(transport: Transport, lease_id: uuid.UUID) -> None:
    """``POST /v2/concurrency_limits/decrement-with-lease``: give the lease's slots back."""
    transport.request("POST", DECREMENT_WITH_LEASE, json={"lease_id": str(lease_id)})


def _renewal_delay(attempt: int) -> float:
    average: float = min(RENEWAL_BASE_DELAY * 2.0**attempt, RENEWAL_MAX_DELAY)
    return average * random.uniform(1 - RENEWAL_JITTER, 1 + RENEWAL_JITTER)


class ThreadInterrupt:
    """Raises :class:`ConcurrencyLeaseLostError` in the thread that made it, while armed."""

    def __init__(self) -> None:
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._armed = True
        self.fired = False

    def __call__(self) -> None:
        import ctypes

        from skiff.concurrency.asyncio import ConcurrencyLeaseLostError

        with self._lock:
            if not self._armed:
                return
            self.fired = True
            # Delivered at the thread's next bytecode: a blocking call ends first.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(ConcurrencyLeaseLostError)
            )

    def disarm(self) -> None:
        """From now on nothing is raised (the body is over)."""
        with self._lock:
            self._armed = False


class TaskInterrupt:
    """Cancels the asyncio task that made it, while armed; ``fired`` says whether it did."""

    def __init__(self) -> None:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._lock = threading.Lock()
        self._armed = True
        self.fired = False

    def __call__(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop has nothing left to stop
            self._loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        with self._lock:
            if not self._armed or self._task is None:
                return
            self.fired = True
        self._task.cancel()

    def disarm(self) -> None:
        """From now on nothing is cancelled; undo the cancellation this made, if any."""
        with self._lock:
            self._armed = False
        uncancel = getattr(self._task, "uncancel", None)  # Python 3.11+
        if self.fired and uncancel is not None:
            uncancel()


class LeaseKeeper:
    """The renewal thread of one lease; :meth:`stop` ends it."""

    def __init__(
        self,
        transport: Transport,
        lease_id: uuid.UUID,
        lease_duration: float,
        *,
        raise_on_failure: bool,
        quiet: bool,
        on_lost: Callable[[], None],
    ) -> None:
        self.transport = transport
        self.lease_id = lease_id
        self.lease_duration = lease_duration
        self.raise_on_failure = raise_on_failure
        self.quiet = quiet
        self.on_lost = on_lost
        self._stop = threading.Event()
        # The caller's context, so a failure is logged on its run logger.
        caller = contextvars.copy_context()
        self._thread = threading.Thread(
            target=caller.run,
            args=(self._run,),
            daemon=True,
            name=f"concurrency-lease-renewal-{lease_id}",
        )
        self._thread.start()

    def stop(self, join: bool) -> None:
        """Stop renewing; ``join`` waits briefly for the thread (sync callers only)."""
        self._stop.set()
        if join:
            self._thread.join(RENEWAL_JOIN_SECONDS)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._renew():
                    return
                self._stop.wait(self.lease_duration * RENEWAL_FRACTION)
        except Exception as exc:
            if not self._stop.is_set():
                self._lost(exc)

    def _renew(self) -> bool:
        path = f"/v2/concurrency_limits/leases/{self.lease_id}/renew"
        for attempt in range(RENEWAL_ATTEMPTS):
            try:
                self.transport.request("POST", path, json={"lease_duration": self.lease_duration})
                return True
            except Exception as exc:
                if attempt == RENEWAL_ATTEMPTS - 1:
                    logger.exception(
                        "Function 'concurrency lease renewal' failed after %s attempts",
                        RENEWAL_ATTEMPTS,
                    )
                    raise
                delay = _renewal_delay(attempt)
                logger.warning(
                    "Attempt %s of function 'concurrency lease renewal' failed with %s: %s. "
                    "Retrying in %.2f seconds...",
                    attempt + 1,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                if self._stop.wait(delay):
                    return False
        return False

    def _lost(self, exc: Exception) -> None:
        target = run_logger() or logger
        info = (type(exc), exc, exc.__traceback__)
        if self.raise_on_failure:
            target.error(
                "Concurrency lease renewal failed - slots are no longer reserved. "
                "Terminating execution to prevent over-allocation. "
                "Lease ID: %s, exception: %s",
                self.lease_id,
                exc,
                exc_info=info,
            )
            self.on_lost()
            return
        target.log(
            logging.DEBUG if self.quiet else logging.WARNING,
            "Concurrency lease renewal failed - slots are no longer reserved. "
            "Execution will continue, but concurrency limits may be exceeded. "
            "Lease ID: %s, exception: %s",
            self.lease_id,
            exc,
            exc_info=info,
        )


_cleanup: contextvars.ContextVar[list[tuple[Transport, uuid.UUID]] | None] = contextvars.ContextVar(
    "skiff_concurrency_cleanup", default=None
)


def record(transport: Transport, lease_id: uuid.UUID) -> list[tuple[Transport, uuid.UUID]] | None:
    """Note a granted lease on the current :class:`ConcurrencyContext`; returns its list."""
    leases = _cleanup.get()
    if leases is not None:
        leases.append((transport, lease_id))
    return leases


def discard(leases: list[tuple[Transport, uuid.UUID]] | None, lease_id: uuid.UUID) -> None:
    """Forget a lease that was released normally (``leases`` is what :func:`record` returned)."""
    if leases is not None:
        leases[:] = [entry for entry in leases if entry[1] != lease_id]


class ConcurrencyContext:
    """Around a run: on exit, release every lease its holders were cancelled before releasing.

    Release is best effort: a failure is logged and the other leases are still released.
    """

    def __init__(self) -> None:
        self.leases: list[tuple[Transport, uuid.UUID]] = []
        self._token: contextvars.Token[list[tuple[Transport, uuid.UUID]] | None] | None = None

    def __enter__(self) -> ConcurrencyContext:
        self._token = _cleanup.set(self.leases)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for transport, lease_id in list(self.leases):
                try:
                    release(transport, lease_id)
                except Exception:
                    (run_logger() or logger).warning(
                        "Failed to release concurrency lease %s during cleanup",
                        lease_id,
                        exc_info=True,
                    )
            self.leases.clear()
        finally:
            if self._token is not None:
                _cleanup.reset(self._token)
                self._token = None
