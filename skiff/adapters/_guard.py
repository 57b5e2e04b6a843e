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
                state_type=TIMEOUT_STATES[self.state_name],
            )
            flush_before_freeze(self.flush_budget())
        except Exception as exc:
            log_once("the deadline guard", exc)


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
