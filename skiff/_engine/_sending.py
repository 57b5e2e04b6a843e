"""What one chunk of buffered reports becomes on the wire, in buffer order.

Events and logs are batched into ``POST /events`` and ``POST /logs/`` (``MAX_BATCH`` per
request); a control report (a create, a state, a stand-in task run, a replayed record)
first sends the batches before it, so the server sees everything in the order the runs
produced it. A report whose run (or record) the server has not got yet is parked, and
sent once the create it waits for lands in the same chunk; otherwise it goes back to the
buffer. A report whose flow run the server refused to create is dropped (counted).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from skiff._engine._buffer import LOGS, MAX_BATCH
from skiff._engine._delivery import REFUSED, UNREACHABLE
from skiff._engine._items import CreateSpec, DeadRun, Item, Unresolved

if TYPE_CHECKING:
    from skiff._engine._buffer import Drops
    from skiff._engine._creates import Creates
    from skiff._engine._delivery import Delivery

__all__ = ["Sender"]


class Sender:
    """Sends chunks through one reporter's delivery; ``cond`` is the reporter's lock."""

    def __init__(
        self, delivery: Delivery, creates: Creates, drops: Drops, cond: threading.Condition
    ) -> None:
        self._delivery = delivery
        self._creates = creates
        self._drops = drops
        self._cond = cond

    def process(self, items: list[Item]) -> list[Item]:
        """Send items in order; return the ones to keep for later."""
        batch: dict[str, list[Item]] = {"event": [], "log": []}
        parked: list[Item] = []
        for index, item in enumerate(items):
            if self._delivery.handoff:  # the spool takes over: send nothing more
                return [*batch["event"], *batch["log"], *parked, *items[index:]]
            if item.skip is not None and item.skip():
                continue
            if item.kind in batch:
                batch[item.kind].append(item)
                if len(batch[item.kind]) >= MAX_BATCH and not self._send_batches(batch):
                    return [*batch["event"], *batch["log"], *parked, *items[index + 1 :]]
                continue
            if not self._send_batches(batch):
                return [*batch["event"], *batch["log"], *parked, *items[index:]]
            sent = self._send_control(item)
            if sent is None:
                parked.append(item)
            elif not sent:
                return [*parked, *items[index:]]
            elif item.kind == "create" and parked:
                # A flow run was just created: reports parked for it can go now.
                parked = [p for p in parked if self._send_control(p) is None]
        if not self._send_batches(batch):
            return [*batch["event"], *batch["log"], *parked]
        return parked

    def _drop_dead(self, n: int) -> None:
        with self._cond:
            self._drops.note(n, "their flow run could not be created")

    def _send_batches(self, batch: dict[str, list[Item]]) -> bool:
        for kind, path in (("event", "/events"), ("log", "/logs/")):
            items = batch[kind]
            if not items:
                continue
            bodies: list[Any] = []
            waiting: list[Item] = []
            dead = 0
            for item in items:
                try:
                    bodies.append(item.build())
                except Unresolved:
                    waiting.append(item)
                except DeadRun:
                    dead += 1
            if dead:
                self._drop_dead(dead)
            if bodies:

                def send(timeout: Any, bodies: list[Any] = bodies, path: str = path) -> None:
                    self._delivery.request("POST", path, json=bodies, retry=False, **timeout)

                outcome = self._delivery.retrying(send, len(bodies), at_most_once=kind == "log")
                if outcome == UNREACHABLE:
                    return False
            batch[kind] = waiting
            if waiting:
                return False
        return True

    def _send_control(self, item: Item) -> bool | None:
        """True when sent (or refused for good), False when unreachable, None when not yet sendable."""
        try:
            built = item.build()
        except Unresolved:
            return None
        except DeadRun:
            self._drop_dead(1)
            return True
        if isinstance(built, CreateSpec):
            outcome = self._delivery.retrying(self._creates.creator(built), 1)
            if outcome == REFUSED:
                built.run.dead = True
            return outcome != UNREACHABLE
        method, path, body = built
        on_response = item.on_response
        body_kw: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}

        def send(timeout: Any) -> None:
            response = self._delivery.request(method, path, retry=False, **body_kw, **timeout)
            if on_response is not None:
                on_response(response)

        return self._delivery.retrying(send, 1, at_most_once=item.cls in LOGS) != UNREACHABLE
