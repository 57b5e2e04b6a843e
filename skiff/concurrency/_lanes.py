"""Turns between local callers: one acquisition at a time per name set, and a no-limits cache.

Prefect 3.9.1 sends every acquisition for a set of names through one queue per process
(its ``ConcurrencySlotAcquisitionService``), so many waiters in one process poll the server
one at a time, in arrival order. :class:`Lane` does the same for threads and event loops
alike: a waiter is woken through its own ``wake`` (an ``Event.set`` or a
``call_soon_threadsafe``).

:data:`no_limits` remembers for 5 seconds that a task run's tag set has no limits, as
Prefect's cache does, so a flow of many tagged tasks asks once.
"""

from __future__ import annotations

import collections
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skiff.concurrency._core import Plan

__all__ = ["Lane", "NoLimits", "Turn", "lane_for", "no_limits"]

NO_LIMITS_TTL = 5.0  # seconds a tag set without limits is remembered (Prefect's cache)
NO_LIMITS_MAX = 1000


class NoLimits:
    """Tag sets known to have no limits, for a few seconds (saves a request per task run)."""

    def __init__(self) -> None:
        self._until: collections.OrderedDict[frozenset[str], float] = collections.OrderedDict()
        self._lock = threading.Lock()

    def known(self, key: frozenset[str]) -> bool:
        """Whether ``key`` was found without limits less than ``NO_LIMITS_TTL`` ago."""
        with self._lock:
            until = self._until.get(key)
            if until is not None and until <= time.monotonic():
                del self._until[key]
                until = None
            return until is not None

    def add(self, key: frozenset[str]) -> None:
        """Remember that ``key`` has no limits."""
        with self._lock:
            self._until[key] = time.monotonic() + NO_LIMITS_TTL
            self._until.move_to_end(key)
            while len(self._until) > NO_LIMITS_MAX:
                self._until.popitem(last=False)


no_limits = NoLimits()


class Turn:
    """A place in a :class:`Lane`; ``wake`` is called (outside the lane's lock) when it is due.

    ``wake`` returns False when its waiter can no longer take the turn (its loop closed).
    """

    __slots__ = ("granted", "wake")

    def __init__(self, wake: Callable[[], bool]) -> None:
        self.wake = wake
        self.granted = False


class Lane:
    """First come, first served turns for one name set, across threads and event loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = False
        self._queue: collections.deque[Turn] = collections.deque()

    def join(self, turn: Turn) -> bool:
        """Queue ``turn``; True when it is due at once (``wake`` is then not called)."""
        with self._lock:
            if not self._busy:
                self._busy = True
                turn.granted = True
                return True
            self._queue.append(turn)
            return False

    def withdraw(self, turn: Turn) -> bool:
        """Leave the queue; False when the turn was already granted (then call :meth:`leave`)."""
        with self._lock:
            if turn.granted:
                return False
            self._queue.remove(turn)
            return True

    def leave(self) -> None:
        """End the current turn and hand the lane to the next waiter."""
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                turn = self._queue.popleft()
                turn.granted = True
            if turn.wake():
                return


_lanes: weakref.WeakValueDictionary[tuple[str, frozenset[str]], Lane] = (
    weakref.WeakValueDictionary()
)
_lanes_lock = threading.Lock()


def lane_for(plan: Plan) -> Lane:
    """The lane of this plan's name set (rate limits and leases queue apart, as in Prefect)."""
    key = (plan.mode if plan.lease_duration is None else "lease", frozenset(plan.names))
    with _lanes_lock:
        lane = _lanes.get(key)
        if lane is None:
            lane = _lanes[key] = Lane()
        return lane
