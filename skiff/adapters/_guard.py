"""The deadline guard and the drain: how a call's reports land before the platform stops it.

* :class:`DeadlineGuard` is a cancellable watcher that marks the run TimedOut (or
  Crashed) and flushes before the platform kills the call, ``timeout_margin`` seconds
  ahead or three request latencies ahead, whichever is earlier, so the final state lands
  even on a slow server.
* :func:`drain` flushes within one budget for every adapter,
  ``min(SKIFF_FLUSH_TIMEOUT, time left - flush_margin)``, and spools what it could not
  send (``SKIFF_SPOOL_DIR``) before the platform freezes the process. The platform's
  :meth:`~skiff.adapters._protocol.Platform.settle` decides when it runs.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from skiff.adapters._core import TIMEOUT_STATES, log_once

if TYPE_CHECKING:
    from skiff._engine import RunHandle

__all__ = ["DeadlineGuard", "drain", "settings"]


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
        with self._lock:
            if not self._cancelled.is_set():
                _watcher.arm(self, handle)

    def cancel(self) -> None:
        """Disarm the guard (the call ended in time)."""
        with self._lock:
            self._cancelled.set()
        _watcher.disarm(self)

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

    def fire_at(self, handle: RunHandle) -> float:
        """The :func:`time.monotonic` time at which the guard fires, at the latency seen now."""
        assert self.deadline is not None
        return self.deadline - self.lead(handle)

    def fire(self, handle: RunHandle) -> None:
        """End the run now (its deadline is near) and flush; never raises."""
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
                state_type=TIMEOUT_STATES[self.state_name],
            )
            flush_before_freeze(self.flush_budget())
        except Exception as exc:
            log_once("the deadline guard", exc)


class _Watcher:
    """One daemon thread for every armed guard of the process.

    A thread per call cost a thread start (which waits until the thread runs) on every
    invocation; this one starts once, and is woken when a guard is armed or disarmed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[DeadlineGuard, RunHandle]] = {}
        self._thread: threading.Thread | None = None

    def arm(self, guard: DeadlineGuard, handle: RunHandle) -> None:
        with self._cond:
            self._armed[id(guard)] = (guard, handle)
            if self._thread is None or not self._thread.is_alive():
                # A daemon thread never keeps a finished process alive.
                self._thread = threading.Thread(target=self._loop, daemon=True, name="skiff-guard")
                self._thread.start()
            self._cond.notify()

    def disarm(self, guard: DeadlineGuard) -> None:
        with self._cond:
            if self._armed.pop(id(guard), None) is not None:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [(g, h) for g, h in self._armed.values() if g.fire_at(h) <= now]
                for guard, _ in due:
                    del self._armed[id(guard)]
                if not due:
                    nearest = min((g.fire_at(h) for g, h in self._armed.values()), default=None)
                    # The lead follows the latency seen, so look again at least every 0.25 s.
                    self._cond.wait(None if nearest is None else min(nearest - now, 0.25))
                    continue
            for guard, handle in due:
                guard.fire(handle)


_watcher = _Watcher()


def settings() -> Any:
    """The current :class:`~skiff.client._settings.Settings`, or None when they are malformed."""
    from skiff.client._settings import Settings

    try:
        return Settings.load()
    except Exception:
        return None


def drain(guard: DeadlineGuard) -> None:
    """Flush within the one budget, then spool what is left; never raises.

    Safe to run from any thread, and later than the call (the budget is the guard's
    deadline, not the time the drain was made).
    """
    from skiff._engine._flows import flush_before_freeze

    try:
        current = settings()
        budget = guard.flush_budget(current.flush_timeout if current else math.inf)
        if budget > 0:
            flush_before_freeze(budget)
    except Exception as exc:
        log_once("flushing reports", exc)
