"""The background reporter: a bounded buffer of reports and one thread that sends them.

User code only ever appends to the buffer (a lock and a deque append); the thread does
every request. What it sends, in the order the runs produced it:

* ``create``: ``POST /flows/`` (once per flow name per process) and ``POST /flow_runs/``,
  when the caller could not create the run before its body;
* ``request``: ``POST /task_runs/`` for a subflow's stand-in task run, flow-run states,
  replayed spool records;
* ``event``: task-run state events, batched into ``POST /events``;
* ``log``: run logs, batched into ``POST /logs/``.

Order: reports go out in buffer order, a chunk at a time, and a run's final state is
queued after everything that run produced, so it lands last. A report that needs a run
or a record the server lacks (a child run's parent, a subflow's stand-in task run) waits
until that lands, so the server never sees a dangling reference.

When it sends: as soon as a flow run ends or someone calls :func:`flush`, when the oldest
buffered report is ``Settings.flush_interval`` old (long flows report periodically), or
when ``SEND_AT_ITEMS`` reports are waiting.

Deadlines: a flush with a deadline cuts every request's timeout and backoff sleep to the
time left, and when what is buffered would take longer than that at the latency seen
(:class:`~skiff._engine._budget.Latency`), the sender hurries: flow-run creates and
states first, logs last.

The parts, each in its module: the buffer, its memory bound and drop order
(:mod:`~skiff._engine._buffer`); retries, backoff, fail-open and at-most-once logs
(:mod:`~skiff._engine._delivery`); flow-run creates and their recovery by create marker
(:mod:`~skiff._engine._creates`); what a chunk becomes on the wire
(:mod:`~skiff._engine._sending`). This module holds the :class:`Reporter` that ties them
to one sender thread, the flush and spool hand-off, and the process's reporters.

Spool: with ``Settings.spool_dir``, what an adapter's flush or the exit hook could not
send is written there (see :mod:`~skiff._engine._spool`) and replayed, once, by the next
flow run of this or another process.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from skiff._engine import _spool
from skiff._engine._buffer import SEND_AT_ITEMS, Buffer, Drops
from skiff._engine._creates import Creates
from skiff._engine._delivery import Delivery, may_have_landed
from skiff._engine._items import Item
from skiff._engine._live_runs import LiveRuns
from skiff._engine._sending import Sender
from skiff._exceptions import ReportingError

if TYPE_CHECKING:
    import httpx

    from skiff._engine._budget import Latency
    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

__all__ = ["Reporter", "all_reporters", "close_all", "get", "may_have_landed"]

logger = logging.getLogger("skiff")

# While the sender is busy, callers move the inbox into the buffer themselves at this
# size, so the buffer's bounds hold without a lock per report.
ABSORB_AT = 4 * SEND_AT_ITEMS

HANDOFF_GRACE = 0.2  # seconds the sender gets to hand back what it holds before a freeze


class Reporter:
    """The process's reporting buffer and sender thread (one per API settings, see :func:`get`)."""

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self._cond = threading.Condition()
        self._drops = Drops()
        self._buffer = Buffer(settings.buffer_max_items, settings.buffer_max_bytes, self._drops)
        self._delivery = Delivery(settings, transport, self._cond, self._drops)
        self._creates = Creates(self._delivery)
        self.live_runs = LiveRuns()
        self._sender = Sender(self._delivery, self._creates, self._drops, self._cond)
        self.latency: Latency = self._delivery.latency
        self.flow_ids: dict[str, str] = self._creates.flow_ids
        self._inflight = 0
        self._kick = False
        self._inbox: collections.deque[Item] = collections.deque()
        self._absorb_at = min(ABSORB_AT, settings.buffer_max_items)
        # The sender is waiting without a timeout: the next report must wake it.
        self._idle = False
        self._thread = threading.Thread(target=self._loop, name="skiff-reporter", daemon=True)
        self._thread.start()
        self.replay_spool()

    # ----------------------------------------------------------------- user side
    def put(self, item: Item, *, urgent: bool = False) -> None:
        """Buffer a report (never blocks on the network; may drop a lower-class one).

        The common case is one lock-free append to the inbox, which the sender moves into
        the buffer; the lock is taken only to wake an idle sender, to send early, or to
        hold the inbox to the buffer's bound.
        """
        if urgent:
            with self._cond:
                self._absorb()
                self._buffer.add(item, urgent=True)
                self._kick = True
                self._cond.notify_all()
            return
        inbox = self._inbox
        inbox.append(item)
        n = len(inbox)
        if self._idle or n == SEND_AT_ITEMS or n >= self._absorb_at:
            with self._cond:
                self._idle = False  # one wake is enough
                self._absorb()
                if self._buffer.count >= SEND_AT_ITEMS:
                    self._kick = True
                self._cond.notify_all()

    def _absorb(self) -> None:
        # With the lock held: the inbox's reports join the buffer, in order, within its bound.
        inbox, add = self._inbox, self._buffer.add
        while inbox:
            add(inbox.popleft())

    def kick(self) -> None:
        """Ask the thread to send what is buffered now, without waiting for it."""
        with self._cond:
            self._kick = True
            self._cond.notify_all()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request through the reporter's transport, its latency recorded."""
        return self._delivery.request(method, path, **kwargs)

    def create_flow_run(
        self,
        flow_name: str,
        body: dict[str, Any],
        *,
        deadline: float | None = None,
        recover: bool = False,
    ) -> httpx.Response:
        """``POST /flows/`` (once per name) and ``POST /flow_runs/``, without retries.

        See :meth:`~skiff._engine._creates.Creates.create_flow_run` for ``deadline`` and
        ``recover``.
        """
        return self._creates.create_flow_run(flow_name, body, deadline=deadline, recover=recover)

    def flush(self, timeout: float | None = None, *, spool_rest: bool = False) -> bool:
        """Send everything buffered; True when nothing is left. ``None`` means flush_timeout.

        With ``spool_rest`` (adapters, before a freeze) what is still unsent when the time
        is up goes to the spool, if one is set, within the same ``timeout``.
        """
        done = self._drain(timeout, spool_rest)
        if self.settings.strict:
            self.raise_if_failed(done)
        return done

    def replay_spool(self) -> None:
        """Queue what earlier processes (or invocations) spooled, in order, once."""
        directory = self.settings.spool_dir
        if not directory:
            return
        records = _spool.claim(
            directory, lambda path, exc: logger.warning("skiff ignored spool %s: %s", path, exc)
        )
        if not records:
            return
        logger.info("skiff is replaying %d spooled report(s) from %s", len(records), directory)
        for item in _spool.to_items(records):
            self.put(item)
        self.kick()

    def raise_if_failed(self, done: bool) -> None:
        """Strict mode: turn undelivered or dropped reports into :class:`~skiff.ReportingError`."""
        if done and not self.dropped:
            return
        parts = []
        if not done:
            parts.append(f"{self.pending()} report(s) still unsent")
        if self.dropped:
            parts.append(f"{self.dropped} report(s) dropped")
        parts.extend(self._delivery.errors[-3:])
        raise ReportingError(
            "skiff could not deliver reports to the Prefect API: " + "; ".join(parts)
        )

    def pending(self) -> int:
        """How many reports are buffered or being sent."""
        with self._cond:
            self._absorb()
            return self._buffer.count + self._inflight

    def report_outage(self, error: BaseException) -> None:
        """Note that the server could not be reached; the first time, log the ONE warning."""
        self._delivery.report_outage(error)

    @property
    def dropped(self) -> int:
        """How many reports were dropped (buffer full, refused, or undeliverable in time)."""
        with self._cond:
            self._absorb()
        return self._drops.count

    @property
    def sent_requests(self) -> int:
        """How many requests landed."""
        return self._delivery.sent_requests

    @property
    def in_outage(self) -> bool:
        """Whether the last attempt to reach the server failed."""
        return self._delivery.outage

    @property
    def flush_deadline(self) -> float | None:
        """The earliest deadline of the flushes running now (a :func:`time.monotonic` time)."""
        return self._delivery.flush_deadline

    # ----------------------------------------------------------------- flush and spool
    def _drain(self, timeout: float | None, spool_rest: bool = False) -> bool:
        timeout = self.settings.flush_timeout if timeout is None else timeout
        grace = min(HANDOFF_GRACE, timeout / 4) if spool_rest and self.settings.spool_dir else 0
        deadline = time.monotonic() + timeout - grace
        deadlines = self._delivery.deadlines
        with self._cond:
            deadlines.append(deadline)
            self._kick = True
            self._delivery.wake()
            try:
                self._absorb()
                while self._buffer.count or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        break
                    self._cond.wait(min(remaining, 0.05))
                done = not self._buffer.count and not self._inflight
                if not done and grace:
                    done = self._hand_off(grace)
            finally:
                deadlines.remove(deadline)
        return done

    def _hand_off(self, grace: float) -> bool:
        # Called with the lock held, past a flush deadline: pause the sender, give it
        # ``grace`` seconds to hand back what it holds (its requests already end at the
        # deadline), and spool everything. True when nothing is left in memory.
        self._delivery.handoff = True
        self._delivery.wake()
        try:
            end = time.monotonic() + grace
            while self._inflight and time.monotonic() < end:
                self._cond.wait(0.01)
            self._absorb()
            kept = self._spool_items(self._buffer.take_all())
        finally:
            self._delivery.handoff = False
            self._cond.notify_all()
        self._buffer.requeue(kept)
        return not self._buffer.count and not self._inflight

    def _spool_items(self, items: list[Item]) -> list[Item]:
        """Write ``items`` to the spool; return those that stay in memory."""
        directory = self.settings.spool_dir
        if not items or not directory:
            return items
        records, kept = _spool.to_records(items)
        if not records:
            return kept
        try:
            path = _spool.write(directory, records)
        except OSError as exc:
            logger.warning("skiff could not write its spool to %s: %s", directory, exc)
            return items
        logger.warning("skiff spooled %d unsent report(s) to %s", len(records), path)
        return kept

    # ----------------------------------------------------------------- sender thread
    def _due(self) -> bool:
        self._absorb()
        delivery = self._delivery
        if delivery.handoff:
            return False
        if delivery.stop.is_set() or self._kick or delivery.deadlines:
            return bool(self._buffer.count) or delivery.stop.is_set()
        if self._buffer.oldest is None:
            return False
        return time.monotonic() - self._buffer.oldest >= self.settings.flush_interval

    def _loop(self) -> None:
        delivery, buffer = self._delivery, self._buffer
        while True:
            with self._cond:
                while not (due := self._due()):
                    wait = 0.05 if delivery.deadlines else None
                    if buffer.oldest is not None:
                        age = time.monotonic() - buffer.oldest
                        wait = min(wait or 1e9, max(0.0, self.settings.flush_interval - age))
                    check_in = self.live_runs.wait()
                    if check_in is not None:
                        if check_in <= 0:
                            break
                        wait = min(wait or 1e9, check_in)
                    # Idle is set before the inbox is looked at again, so a put that
                    # comes in between sees it and wakes this wait.
                    self._idle = wait is None
                    if wait is None and self._inbox:
                        continue
                    self._cond.wait(wait)
                self._idle = False
                if due:
                    self._kick = False
                    if delivery.stop.is_set() and not buffer.count:
                        return
                    items = buffer.take(delivery.flush_deadline, delivery.latency)
                    self._inflight = len(items)
            if self.live_runs.wait() == 0:
                self.live_runs.check(delivery)
            if not due:
                continue
            try:
                rest = self._sender.process(items)
            except Exception:  # a bug here must never take reporting down for good
                logger.exception("skiff reporter failed; its reports are dropped")
                rest = []
                with self._cond:
                    self._drops.note(len(items), "of an internal error")
            with self._cond:
                buffer.requeue(rest)
                self._inflight = 0
                self._cond.notify_all()
                if rest and len(rest) == len(items):
                    if delivery.stop.is_set():
                        return
                    # Nothing could go: wait for the run those reports need, or the server.
                    self._cond.wait(0.05 if delivery.deadlines else self.settings.flush_interval)

    # ----------------------------------------------------------------- shutdown
    def reset_connections(self) -> None:
        """Open new connections from now on (after a snapshot restore); nothing is lost."""
        self.transport.reset()

    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the thread, and spool (or count as dropped) what could not be sent."""
        try:
            self._drain(timeout)
        finally:
            self._delivery.stop.set()
            with self._cond:
                self._delivery.wake()
            self._thread.join(2.0)
            with self._cond:
                self._absorb()
                left = self._spool_items(self._buffer.take_all())
            if left:
                errors = self._delivery.errors
                last = errors[-1] if errors else "no answer in time"
                with self._cond:
                    self._drops.note(
                        len(left), f"they could not be sent before the flush deadline ({last})"
                    )


# One reporter per (API URL, settings) in the process; adapters flush it between invocations.
_reporters: dict[Settings, Reporter] = {}
_lock = threading.Lock()


def _build_transport(settings: Settings) -> Transport:
    from skiff.client._sync._transport import Transport

    return Transport(settings)


def get(settings: Settings) -> Reporter:
    """The process's reporter for these settings, started on first use."""
    reporter = _reporters.get(settings)
    if reporter is not None:
        return reporter
    with _lock:
        reporter = _reporters.get(settings)
        if reporter is None:
            reporter = Reporter(settings, _build_transport(settings))
            if not _reporters:
                atexit.register(close_all)
            _reporters[settings] = reporter
    return reporter


def all_reporters() -> list[Reporter]:
    """Every reporter started in this process."""
    return list(_reporters.values())


def close_all() -> None:
    """Exit hook: flush every reporter within one flush_timeout, then spool or count the rest."""
    reporters = all_reporters()
    if not reporters:
        return
    deadline = time.monotonic() + max(r.settings.flush_timeout for r in reporters)
    for reporter in reporters:
        try:
            reporter.close(max(0.0, deadline - time.monotonic()))
        except ReportingError as exc:
            logger.error("%s", exc)
