"""Cancellation seen through the reporter: live flow runs are read now and then, and one
the server has set CANCELLING (from the UI, the API or a worker) is marked, so its engine
stops it at the next task it starts (:class:`~skiff._engine._errors.FlowRunCancelled`).

A flow run that reports nothing but its own states goes through no orchestration that
would tell it, so the sender asks: one ``GET /flow_runs/{id}`` per live run every
``CHECK_INTERVAL`` seconds, the first one that long after the run started (a short run,
like most function invocations, is never asked about).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from skiff.client._base import decode

if TYPE_CHECKING:
    from skiff._engine._delivery import Delivery
    from skiff._engine._items import RunRef

__all__ = ["CHECK_INTERVAL", "CancelWatch"]

logger = logging.getLogger("skiff")

CHECK_INTERVAL = 2.0
_STOPPING = ("CANCELLING", "CANCELLED")


class CancelWatch:
    """The live flow runs of one reporter, and when to look at their states next."""

    def __init__(self) -> None:
        self._runs: dict[RunRef, float] = {}  # run -> when its next check is due
        self._lock = threading.Lock()

    def watch(self, run: RunRef) -> None:
        """Start looking at ``run`` (its first check comes CHECK_INTERVAL from now)."""
        with self._lock:
            self._runs[run] = time.monotonic() + CHECK_INTERVAL

    def unwatch(self, run: RunRef) -> None:
        """Stop looking at ``run`` (it ended)."""
        with self._lock:
            self._runs.pop(run, None)

    def wait(self) -> float | None:
        """Seconds until the next check is due; None when no run is watched."""
        with self._lock:
            if not self._runs:
                return None
            return max(0.0, min(self._runs.values()) - time.monotonic())

    def check(self, delivery: Delivery) -> None:
        """Read every run whose check is due; mark the ones being cancelled."""
        now = time.monotonic()
        with self._lock:
            due = [run for run, at in self._runs.items() if at <= now]
            for run in due:
                self._runs[run] = now + CHECK_INTERVAL
        for run in due:
            if run.id is None:
                continue  # not created yet
            try:
                reply = delivery.request("GET", f"/flow_runs/{run.id}")
                data: Any = decode(reply, Any)
            except Exception as exc:  # a check that fails is tried again next time
                logger.debug("skiff could not read flow run %s's state: %s", run.id, exc)
                continue
            state = data.get("state") if isinstance(data, dict) else None
            if isinstance(state, dict) and state.get("type") in _STOPPING:
                run.cancel_requested = True
