"""What the reporter buffers: report items, run references, and their sizes.

A report is built lazily (``Item.build``) when its turn comes, because the flow run it
belongs to may get its server id only later. While the reporter writes the spool, an
unresolved run is written as a placeholder (``skiff-ref-<ref>``) that the process which
replays the spool replaces with the id the replayed create returns.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CONTROL_SIZE",
    "DEBUG_LOG",
    "EVENT_SIZE",
    "FINAL_TASK_EVENT",
    "INFO_LOG",
    "KEEP",
    "LOG_SIZE",
    "PLACEHOLDER",
    "TASK_EVENT",
    "WARNING_LOG",
    "CreateSpec",
    "Item",
    "RunRef",
    "Unresolved",
    "Wait",
    "run_id",
    "spooling",
]

# Drop classes, lowest first: the order in which reports are sacrificed when full.
DEBUG_LOG, INFO_LOG, WARNING_LOG, TASK_EVENT, FINAL_TASK_EVENT, KEEP = range(6)

# Bytes one buffered report costs in RSS, Python objects and allocator slack included; a
# log adds its message. Measured: 50k buffered logs of 65 characters grew RSS by 21.5 MB,
# 429 B each (tests/faults/test_regressions.py::test_regression_11_...).
EVENT_SIZE = 1500
LOG_SIZE = 360
CONTROL_SIZE = 1000

PLACEHOLDER = "skiff-ref-"


class RunRef:
    """What the reporter knows about one flow run; its id may arrive after the run starts.

    ``ref`` is a local identity that outlives the process through the spool.
    """

    __slots__ = (
        "cancel_requested",
        "crashed",
        "dead",
        "existed",
        "final_queued",
        "flow_id",
        "id",
        "lock",
        "maybe_created",
        "name",
        "ref",
        "resolved",
        "running",
    )

    def __init__(
        self, run_id: uuid.UUID | None = None, name: str | None = None, ref: str | None = None
    ) -> None:
        self.id = run_id
        self.name = name
        self.ref = ref or uuid.uuid4().hex
        self.flow_id: str | None = None
        self.existed = False
        self.dead = False
        # Ended early by its runtime (RunHandle.crash): its buffered Running is not sent.
        self.crashed = False
        # The server set it CANCELLING (seen by the reporter's LiveRuns).
        self.cancel_requested = False
        self.running = "none"  # its Running state: "none", "queued" or "sent"
        # A create of this run may have reached the server although its answer was lost.
        self.maybe_created = False
        self.final_queued = False
        self.lock = threading.Lock()
        self.resolved = threading.Event()
        if run_id is not None:
            self.resolved.set()

    def resolve(self, run_id: str | uuid.UUID, name: str | None, flow_id: str | None) -> None:
        """Record the server's id for this run; reports waiting for it can now go."""
        self.id = uuid.UUID(str(run_id))
        self.name = name or self.name
        self.flow_id = flow_id or self.flow_id
        self.resolved.set()

    def claim_final(self) -> bool:
        """True for the first caller only: a run gets exactly one final state."""
        with self.lock:
            if self.final_queued:
                return False
            self.final_queued = True
            return True


class Unresolved(Exception):
    """A report belongs to a run (or needs a record) the server has not got yet."""


class DeadRun(Exception):
    """A report belongs to a flow run the server refused to create: it can never be sent."""


class Wait(Exception):
    """Send the same request again after ``delay`` seconds (a WAIT answer, or an ordering 409)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"the server asked to wait {delay:.1f} s")
        self.delay = delay


_mode = threading.local()


@contextlib.contextmanager
def spooling() -> Iterator[None]:
    """Within this block, :func:`run_id` gives placeholders for runs without an id."""
    _mode.spooling = True
    try:
        yield
    finally:
        _mode.spooling = False


def run_id(run: RunRef | None) -> str | None:
    """The run's id as a string, for a request body; raises while it is not known yet."""
    if run is None:
        return None
    if run.id is None:
        if run.dead:
            raise DeadRun
        if getattr(_mode, "spooling", False):
            return PLACEHOLDER + run.ref
        raise Unresolved
    return str(run.id)


class CreateSpec(NamedTuple):
    """A flow-run create: ``POST /flows/`` (cached) then ``POST /flow_runs/`` with ``body``.

    ``on_created(status, data)`` lets the engine look at the decoded answer.
    """

    flow_name: str
    body: dict[str, Any]
    run: RunRef
    on_created: Callable[[int, dict[str, Any]], None] | None = None


class Item:
    """One buffered report.

    ``build()`` makes it sendable when its turn comes: the body (``event``/``log``), a
    ``(method, path, body)`` triple (``request``; ``on_response`` may look at the answer;
    ``body`` may be raw JSON bytes) or a :class:`CreateSpec` (``create``).
    """

    __slots__ = ("build", "cls", "kind", "on_response", "seq", "size", "skip")

    def __init__(
        self,
        kind: str,
        cls: int,
        build: Callable[[], Any],
        size: int,
        *,
        skip: Callable[[], bool] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.kind = kind
        self.cls = cls
        self.build = build
        self.size = size
        self.skip = skip
        self.on_response = on_response
        self.seq = 0

    def __lt__(self, other: Item) -> bool:
        return self.seq < other.seq
