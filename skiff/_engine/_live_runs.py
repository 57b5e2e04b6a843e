"""What the reporter does for flow runs while they run: cancellation checks and heartbeats.

**Cancellation.** A flow run that reports nothing but its own states goes through no
orchestration that would tell it it is being cancelled (from the UI, the API or a worker),
so the sender asks: one ``GET /flow_runs/{id}`` per live run every ``CHECK_INTERVAL``
seconds, the first one that long after the run started (a short run, like most function
invocations, is never asked about). A run the server set CANCELLING is marked, and its
engine stops it at the next task it starts (:class:`~skiff._engine._errors.FlowRunCancelled`).

**Heartbeats.** A deployment's run (the ones a worker dispatches) also sends Prefect's
``prefect.flow-run.heartbeat`` event, shaped as Prefect's flow engine sends it, every
``Settings.heartbeat_interval`` seconds (``SKIFF_HEARTBEAT_INTERVAL``, 30) from that long
after it started. A function that dies (out of memory, killed) sends no final state; the
worker that sees no heartbeat for its ``heartbeat_timeout`` marks the run Crashed.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from skiff.client._base import decode

if TYPE_CHECKING:
    from skiff._engine._delivery import Delivery
    from skiff._engine._items import RunRef

__all__ = ["CHECK_INTERVAL", "HEARTBEAT_EVENT", "LiveRuns", "heartbeat_template"]

logger = logging.getLogger("skiff")

CHECK_INTERVAL = 2.0
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
_STOPPING = ("CANCELLING", "CANCELLED")
_PREFECT_VERSION = "3.9.1"  # the engine whose events skiff's mirror


def heartbeat_template(
    run: RunRef, flow_name: str, deployment_id: object, tags: list[str]
) -> dict[str, Any]:
    """A run's heartbeat event without its id and time: Prefect's resource and related."""
    related = []
    if run.flow_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow_name,
            }
        )
    related.append(
        {
            "prefect.resource.id": f"prefect.deployment.{deployment_id}",
            "prefect.resource.role": "deployment",
        }
    )
    related.extend(
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in sorted(set(tags))
    )
    return {
        "event": HEARTBEAT_EVENT,
        "resource": {
            "prefect.resource.id": f"prefect.flow-run.{run.id}",
            "prefect.resource.name": run.name or "",
            "prefect.version": _PREFECT_VERSION,
        },
        "related": related,
        "payload": {},
    }


class _Watched:
    __slots__ = ("beat_at", "check_at", "heartbeat", "interval")

    def __init__(self, heartbeat: dict[str, Any] | None, interval: float) -> None:
        now = time.monotonic()
        self.check_at = now + CHECK_INTERVAL
        self.heartbeat = heartbeat
        self.interval = interval
        self.beat_at = now + interval if heartbeat is not None else float("inf")

    def due(self) -> float:
        return min(self.check_at, self.beat_at)


class LiveRuns:
    """The live flow runs of one reporter, and when to look at them (and beat) next."""

    def __init__(self) -> None:
        self._runs: dict[RunRef, _Watched] = {}
        self._lock = threading.Lock()

    def watch(
        self, run: RunRef, heartbeat: dict[str, Any] | None = None, interval: float = 30.0
    ) -> None:
        """Start looking at ``run``; with a ``heartbeat`` template, beat every ``interval`` s."""
        with self._lock:
            self._runs[run] = _Watched(heartbeat, interval)

    def unwatch(self, run: RunRef) -> None:
        """Stop looking at ``run`` (it ended)."""
        with self._lock:
            self._runs.pop(run, None)

    def wait(self) -> float | None:
        """Seconds until the next check or heartbeat is due; None when no run is watched."""
        with self._lock:
            if not self._runs:
                return None
            return max(0.0, min(w.due() for w in self._runs.values()) - time.monotonic())

    def check(self, delivery: Delivery) -> None:
        """Read every run whose check is due (marking the ones being cancelled), and send
        the heartbeats that are due."""
        now = time.monotonic()
        checks: list[RunRef] = []
        beats: list[dict[str, Any]] = []
        with self._lock:
            for run, watched in self._runs.items():
                if watched.check_at <= now:
                    watched.check_at = now + CHECK_INTERVAL
                    checks.append(run)
                if watched.beat_at <= now and watched.heartbeat is not None:
                    watched.beat_at = now + watched.interval
                    beats.append(watched.heartbeat)
        for run in checks:
            if run.id is not None:  # (not created yet: nothing to ask)
                self._check(delivery, run)
        if beats:
            self._beat(delivery, beats)

    def _check(self, delivery: Delivery, run: RunRef) -> None:
        try:
            reply = delivery.request("GET", f"/flow_runs/{run.id}")
            data: Any = decode(reply, Any)
        except Exception as exc:  # a check that fails is tried again next time
            logger.debug("skiff could not read flow run %s's state: %s", run.id, exc)
            return
        state = data.get("state") if isinstance(data, dict) else None
        if isinstance(state, dict) and state.get("type") in _STOPPING:
            run.cancel_requested = True

    def _beat(self, delivery: Delivery, templates: list[dict[str, Any]]) -> None:
        occurred = datetime.datetime.now(datetime.timezone.utc).isoformat()
        events = [{**t, "id": str(uuid.uuid4()), "occurred": occurred} for t in templates]
        try:
            delivery.request("POST", "/events", json=events)
        except Exception as exc:  # a lost heartbeat is made up by the next one
            logger.debug("skiff could not send %d heartbeat(s): %s", len(events), exc)
