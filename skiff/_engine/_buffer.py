"""The reporter's bounded buffer: one queue per drop class, the drop order and the hurry order.

Memory bound: ``Settings.buffer_max_items`` and ``buffer_max_bytes``, counted with the
measured per-report cost of :mod:`~skiff._engine._items`. When full, the oldest report
of the lowest class goes first: debug logs, then info logs, then warning-and-above logs,
then task events that are not final, then final task events. Flow-run creates and
states are never dropped. Every drop is counted (:class:`Drops`) and the first one logs
a warning.

Order: a chunk is taken oldest first (urgent reports, which carry negative sequence
numbers, before all); a sender in a hurry (what is buffered would overrun the flush
deadline at the latency seen) takes flow-run creates and states first, then final task
events, then other task events, then logs from warning down to debug.

Neither class locks: the reporter's lock guards both.
"""

from __future__ import annotations

import collections
import heapq
import logging
import time

from skiff._engine._budget import Latency, requests_needed
from skiff._engine._items import (
    DEBUG_LOG,
    FINAL_TASK_EVENT,
    INFO_LOG,
    KEEP,
    TASK_EVENT,
    WARNING_LOG,
    Item,
)

__all__ = ["LOGS", "MAX_BATCH", "SEND_AT_ITEMS", "TAKE_AT_ONCE", "Buffer", "Drops"]

logger = logging.getLogger("skiff")

LOGS = (DEBUG_LOG, INFO_LOG, WARNING_LOG)
_DROPPABLE = (*LOGS, TASK_EVENT, FINAL_TASK_EVENT)
# What a hurried sender takes first.
_HURRY_ORDER = (KEEP, FINAL_TASK_EVENT, TASK_EVENT, WARNING_LOG, INFO_LOG, DEBUG_LOG)

SEND_AT_ITEMS = 1000  # send without waiting for the interval once this many are buffered
MAX_BATCH = 500  # reports per POST /events or POST /logs/
TAKE_AT_ONCE = 2 * MAX_BATCH  # reports per round of the sender, so urgent ones get a turn


class Drops:
    """How many reports were dropped; the first drop logs ONE warning on the ``skiff`` logger."""

    def __init__(self) -> None:
        self.count = 0
        self._warned = False

    def note(self, n: int, why: str) -> None:
        """Count ``n`` dropped reports; ``why`` completes "because ..." in the warning."""
        self.count += n
        if not self._warned:
            self._warned = True
            logger.warning(
                "skiff dropped %d report(s) because %s (drop order: debug logs, info logs, "
                "other logs, task events; flow-run states are kept); later drops are only "
                "counted, see skiff._engine.dropped_reports()",
                n,
                why,
            )


class Buffer:
    """Buffered reports, one queue per drop class, kept within ``max_items`` and ``max_bytes``."""

    def __init__(self, max_items: int, max_bytes: int, drops: Drops) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.count = 0
        # When the oldest buffered report came in (a time.monotonic time), None when empty.
        self.oldest: float | None = None
        self._drops = drops
        self._queues: list[collections.deque[Item]] = [collections.deque() for _ in range(6)]
        self._bytes = 0
        self._seq = 0

    def add(self, item: Item, *, urgent: bool = False) -> None:
        """Append a report (an urgent one before everything); drop lower ones past the bounds."""
        self._seq += 1
        queue = self._queues[item.cls]
        if urgent:
            item.seq = -self._seq
            queue.appendleft(item)  # later urgent items go first: the deque stays sorted
        else:
            item.seq = self._seq
            queue.append(item)
        self.count += 1
        self._bytes += item.size
        if self.oldest is None:
            self.oldest = time.monotonic()
        if self.count > self.max_items or self._bytes > self.max_bytes:
            self._shed()

    def take(self, deadline: float | None, latency: Latency) -> list[Item]:
        """The next chunk to send; by importance when sending it all would overrun ``deadline``."""
        if self._hurry(deadline, latency):
            items: list[Item] = []
            for cls in _HURRY_ORDER:
                queue = self._queues[cls]
                while queue and len(items) < TAKE_AT_ONCE:
                    items.append(queue.popleft())
        else:
            live = [q for q in self._queues if q]
            items = []
            while live and len(items) < TAKE_AT_ONCE:
                queue = min(live, key=lambda q: q[0].seq)
                items.append(queue.popleft())
                if not queue:
                    live.remove(queue)
        self.count -= len(items)
        self._bytes -= sum(i.size for i in items)
        if not self.count:
            self.oldest = None
        return items

    def take_all(self) -> list[Item]:
        """Everything buffered, in buffer order; the buffer is left empty."""
        items = sorted(i for q in self._queues for i in q)
        for q in self._queues:
            q.clear()
        self.count = self._bytes = 0
        self.oldest = None
        return items

    def requeue(self, items: list[Item]) -> None:
        """Put taken reports back in their places (by sequence number), within the bounds."""
        if not items:
            return
        by_class: dict[int, list[Item]] = collections.defaultdict(list)
        for item in items:
            by_class[item.cls].append(item)
            self.count += 1
            self._bytes += item.size
        for cls, returned in by_class.items():
            queue = self._queues[cls]
            merged = list(heapq.merge(sorted(returned), queue))
            queue.clear()
            queue.extend(merged)
        if self.oldest is None:
            self.oldest = time.monotonic()
        self._shed()

    def _shed(self) -> None:
        while self.count > self.max_items or self._bytes > self.max_bytes:
            victim = next((q for q in (self._queues[c] for c in _DROPPABLE) if q), None)
            if victim is None:
                return
            item = victim.popleft()
            self.count -= 1
            self._bytes -= item.size
            self._drops.note(1, "the buffer is full")

    def _hurry(self, deadline: float | None, latency: Latency) -> bool:
        # Would sending everything overrun the flush deadline at the latency seen?
        if deadline is None:
            return False
        q = self._queues
        needed = requests_needed(
            len(q[KEEP]),
            len(q[TASK_EVENT]) + len(q[FINAL_TASK_EVENT]),
            sum(len(q[c]) for c in LOGS),
            MAX_BATCH,
        )
        return needed * latency.estimate() > deadline - time.monotonic()
