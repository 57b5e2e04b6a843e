"""Time budgets for reporting: pure functions and one latency tracker, no I/O.

One rule for every adapter and for scripts: a flush may take
``min(flush timeout, time left - margin)``. The work before a flow's body (CSRF, the flow
and the flow-run create) gets :func:`start_budget`; past it the body runs and the create
moves to the reporter. The deadline guard and the reporter's "hurry" mode size their
margins from :class:`Latency`, the request latency actually seen, not from a constant.
"""

from __future__ import annotations

import collections
import math
import threading
import time

__all__ = [
    "LATENCY_FACTOR",
    "START_FRACTION",
    "START_TIMEOUT",
    "Latency",
    "flush_budget",
    "requests_needed",
    "start_budget",
]

# The work before the body takes at most this long, and at most this share of the time left.
START_TIMEOUT = 5.0
START_FRACTION = 0.25
# The deadline guard fires this many request latencies before the deadline: one request
# may be in flight, then the run's create (if it is still queued) and its final state.
LATENCY_FACTOR = 3.0
# Recent latencies remembered; the estimate is their maximum, to err on the early side.
LATENCY_WINDOW = 16


def flush_budget(flush_timeout: float, deadline: float | None, margin: float) -> float:
    """Seconds a flush may take now: ``min(flush_timeout, deadline - margin - now)``, >= 0.

    ``deadline`` is a :func:`time.monotonic` time, or None when nothing kills the process.
    """
    if deadline is None:
        return max(0.0, flush_timeout)
    return max(0.0, min(flush_timeout, deadline - margin - time.monotonic()))


def start_budget(deadline: float | None) -> float:
    """Seconds the work before the body may take in total."""
    if deadline is None:
        return START_TIMEOUT
    left = deadline - time.monotonic()
    return max(0.0, min(START_TIMEOUT, START_FRACTION * left))


def requests_needed(controls: int, events: int, logs: int, batch: int) -> int:
    """How many requests sending this much takes: one per control item, batches for the rest."""
    return controls + math.ceil(events / batch) + math.ceil(logs / batch)


class Latency:
    """The round-trip times of recent requests that got an answer (thread-safe)."""

    def __init__(self, window: int = LATENCY_WINDOW) -> None:
        self._recent: collections.deque[float] = collections.deque(maxlen=window)
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Record one request's round trip."""
        with self._lock:
            self._recent.append(seconds)

    def estimate(self) -> float:
        """A cautious estimate of the next request's round trip (0.0 before any answer)."""
        with self._lock:
            return max(self._recent, default=0.0)
