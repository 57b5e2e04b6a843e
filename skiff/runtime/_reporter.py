"""The background reporter: a bounded buffer of reports and one thread that sends them.

User code only ever appends to the buffer (a lock and a deque append); the thread does
every request. What it sends, in the order the runs produced it:

* ``create``: ``POST /flows/`` (once per flow name per process) and ``POST /flow_runs/``
  with the run already RUNNING, when the caller could not do it directly;
* ``task_create``: ``POST /task_runs/`` for the task run that stands for a subflow call;
* ``event``: task-run state events, batched into ``POST /events``;
* ``log``: run logs, batched into ``POST /logs/``;
* ``state``: ``POST /flow_runs/{id}/set_state``. Items go out in buffer order and a run's
  final state is queued after everything that run produced, so it lands last.

When it sends: as soon as a flow run ends or someone calls :func:`flush`, when the oldest
buffered report is ``Settings.flush_interval`` old (long flows report periodically), or
when ``SEND_AT_ITEMS`` reports are waiting. Batching while the flow runs is what lets a
task that finishes quickly cost one event instead of two (see ``_engine``).

Failures (fail open): a request that fails with a connection error, a timeout or a
408/429/502/503 is retried by tenacity with the backoff of :mod:`skiff.client._retry`,
for as long as the process lives or until the deadline of a running :func:`flush`; the
first failure of an outage logs ONE warning on the ``skiff`` logger. Any other error
status is final: that request's reports are dropped (counted). Nothing blocks the user.

Memory bound: ``Settings.buffer_max_items`` and ``buffer_max_bytes`` (estimated). When
full, the oldest report of the lowest class goes first: debug logs, then info logs, then
warning-and-above logs, then task events that are not final, then final task events.
Flow-run creates and flow-run states are never dropped. Every drop is counted
(:attr:`Reporter.dropped`) and the first one logs a warning.

At exit, an ``atexit`` hook flushes for ``Settings.flush_timeout`` seconds; what is still
unsent is written to ``Settings.spool_dir`` when one is set (and replayed by the next
process's first reporter), otherwise counted and logged as dropped.
"""

from __future__ import annotations

import atexit
import collections
import functools
import heapq
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from tenacity import RetryCallState, Retrying, retry_if_exception

from skiff.client._exceptions import APIStatusError, ReportingError
from skiff.client._retry import retry_delay, should_retry

if TYPE_CHECKING:
    import httpx

    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

__all__ = ["Reporter", "RunRef"]

logger = logging.getLogger("skiff")

# Drop classes, lowest first: the order in which reports are sacrificed when full.
DEBUG_LOG, INFO_LOG, WARNING_LOG, TASK_EVENT, FINAL_TASK_EVENT, KEEP = range(6)
_DROPPABLE = (DEBUG_LOG, INFO_LOG, WARNING_LOG, TASK_EVENT, FINAL_TASK_EVENT)

SEND_AT_ITEMS = 1000  # send without waiting for the interval once this many are buffered
MAX_BATCH = 500  # reports per POST /events or POST /logs/
# Rough sizes (bytes) used for the memory bound; a log adds its message length.
EVENT_SIZE = 1500
LOG_SIZE = 300
CONTROL_SIZE = 1000


class RunRef:
    """What the reporter knows about one flow run; its id may arrive after the run starts."""

    __slots__ = ("dead", "existed", "final_queued", "flow_id", "id", "lock", "name", "resolved")

    def __init__(self, run_id: uuid.UUID | None = None, name: str | None = None) -> None:
        self.id = run_id
        self.name = name
        self.flow_id: str | None = None
        self.existed = False
        self.dead = False
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
    """A report belongs to a flow run the server has not given an id to yet."""


class _DeadRun(Exception):
    """A report belongs to a flow run the server refused to create: it can never be sent."""


class Wait(Exception):
    """The server answered WAIT: send the same request again after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"the server asked to wait {delay:.1f} s")
        self.delay = delay


def run_id(run: RunRef | None) -> str | None:
    """The run's id as a string, for a request body; raises while it is not known yet."""
    if run is None:
        return None
    if run.id is None:
        raise _DeadRun if run.dead else Unresolved
    return str(run.id)


class Item:
    """One buffered report.

    ``build()`` makes it sendable when its turn comes: the body (``event``/``log``), a
    ``(method, path, body)`` triple (``request``; ``on_response`` may look at the answer)
    or a function doing the requests itself (``call``, used for flow-run creation).
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


def _retryable(error: BaseException) -> bool:
    return isinstance(error, Wait) or should_retry(error)


class Reporter:
    """The process's reporting buffer and sender thread (one per API settings, see :func:`get`)."""

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.dropped = 0
        self.sent_requests = 0
        self._queues: list[collections.deque[Item]] = [collections.deque() for _ in range(6)]
        self._count = 0
        self._bytes = 0
        self._seq = itertools.count(1)
        self._oldest: float | None = None
        self._cond = threading.Condition()
        self._inflight = 0
        self._kick = False
        self._flushers = 0
        self._stop = threading.Event()
        self._retry_wake = threading.Event()
        self._outage = False
        self._warned_drop = False
        self._errors: list[str] = []
        self.flow_ids: dict[str, str] = {}
        self._thread = threading.Thread(target=self._loop, name="skiff-reporter", daemon=True)
        self._thread.start()
        self._replay_spool()

    # ----------------------------------------------------------------- user side
    def put(self, item: Item, *, urgent: bool = False) -> None:
        """Buffer a report (never blocks on the network; may drop a lower-class one)."""
        with self._cond:
            item.seq = -next(self._seq) if urgent else next(self._seq)
            self._queues[item.cls].append(item)
            self._count += 1
            self._bytes += item.size
            if self._oldest is None:
                self._oldest = time.monotonic()
            if (
                self._count > self.settings.buffer_max_items
                or self._bytes > self.settings.buffer_max_bytes
            ):
                self._shed()
            if urgent or self._count >= SEND_AT_ITEMS:
                self._kick = True
                self._cond.notify_all()

    def kick(self) -> None:
        """Ask the thread to send what is buffered now, without waiting for it."""
        with self._cond:
            self._kick = True
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered; True when nothing is left. ``None`` means flush_timeout."""
        done = self._drain(timeout)
        if self.settings.strict:
            self.raise_if_failed(done)
        return done

    def _drain(self, timeout: float | None) -> bool:
        timeout = self.settings.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushers += 1
            self._kick = True
            self._retry_wake.set()
            self._cond.notify_all()
            try:
                while self._count or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        break
                    self._cond.wait(min(remaining, 0.05))
                done = not self._count and not self._inflight
            finally:
                self._flushers -= 1
        return done

    def raise_if_failed(self, done: bool) -> None:
        """Strict mode: turn undelivered or dropped reports into :class:`~skiff.ReportingError`."""
        if done and not self.dropped:
            return
        parts = []
        if not done:
            parts.append(f"{self.pending()} report(s) still unsent")
        if self.dropped:
            parts.append(f"{self.dropped} report(s) dropped")
        parts.extend(self._errors[-3:])
        raise ReportingError(
            "skiff could not deliver reports to the Prefect API: " + "; ".join(parts)
        )

    def pending(self) -> int:
        """How many reports are buffered or being sent."""
        with self._cond:
            return self._count + self._inflight

    @property
    def in_outage(self) -> bool:
        """Whether the last attempt to reach the server failed."""
        return self._outage

    # ----------------------------------------------------------------- buffer
    def _shed(self) -> None:
        # Called with the lock held, after an append pushed the buffer over a bound.
        while (
            self._count > self.settings.buffer_max_items
            or self._bytes > self.settings.buffer_max_bytes
        ):
            victim = next((q for q in (self._queues[c] for c in _DROPPABLE) if q), None)
            if victim is None:
                return
            item = victim.popleft()
            self._count -= 1
            self._bytes -= item.size
            self._note_drop(1, "the buffer is full")

    def _note_drop(self, n: int, why: str) -> None:
        self.dropped += n
        if not self._warned_drop:
            self._warned_drop = True
            logger.warning(
                "skiff dropped %d report(s) because %s (drop order: debug logs, info logs, "
                "other logs, task events; flow-run states are kept); later drops are only "
                "counted, see skiff.runtime.dropped_reports()",
                n,
                why,
            )

    def _take(self) -> list[Item]:
        # Called with the lock held: everything buffered, in the order it was produced
        # (urgent items, which carry negative sequence numbers, first).
        queues = [q for q in self._queues if q]
        items = list(heapq.merge(*queues)) if len(queues) > 1 else list(queues[0]) if queues else []
        for q in queues:
            q.clear()
        self._inflight = self._count
        self._count = 0
        self._bytes = 0
        self._oldest = None
        return items

    def _requeue(self, items: list[Item]) -> None:
        with self._cond:
            for item in items:
                self._queues[item.cls].append(item)
                self._count += 1
                self._bytes += item.size
            for q in self._queues:
                ordered = sorted(q)
                q.clear()
                q.extend(ordered)
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._shed()

    # ----------------------------------------------------------------- sender thread
    def _due(self) -> bool:
        if self._stop.is_set() or self._kick:
            return True
        if self._oldest is None:
            return False
        return time.monotonic() - self._oldest >= self.settings.flush_interval

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._due():
                    wait = None
                    if self._oldest is not None:
                        age = time.monotonic() - self._oldest
                        wait = max(0.0, self.settings.flush_interval - age)
                    self._cond.wait(wait)
                self._kick = False
                if self._stop.is_set() and not self._count:
                    return
                items = self._take()
            try:
                rest = self._process(items)
            except Exception:  # a bug here must never take reporting down for good
                logger.exception("skiff reporter failed; its reports are dropped")
                rest = []
                with self._cond:
                    self._note_drop(len(items), "of an internal error")
            if rest:
                self._requeue(rest)
            with self._cond:
                self._inflight = 0
                self._cond.notify_all()
                if rest:
                    if self._stop.is_set():
                        return
                    # Reports wait for a run that is not created yet; look again shortly.
                    self._cond.wait(0.05 if self._flushers else self.settings.flush_interval)

    def _process(self, items: list[Item]) -> list[Item]:
        """Send items in order; return the ones to keep for later."""
        batch: dict[str, list[Item]] = {"event": [], "log": []}
        parked: list[Item] = []
        for index, item in enumerate(items):
            if item.kind in batch:
                if item.skip is not None and item.skip():
                    continue
                batch[item.kind].append(item)
                if len(batch[item.kind]) >= MAX_BATCH and not self._send_batches(batch):
                    return sorted([*batch["event"], *batch["log"], *parked, *items[index + 1 :]])
                continue
            if not self._send_batches(batch):
                return sorted([*batch["event"], *batch["log"], *parked, *items[index:]])
            sent = self._send_control(item)
            if sent is None:
                parked.append(item)
            elif not sent:
                return sorted([*parked, *items[index:]])
            elif item.kind == "call" and parked:
                # A flow run was just created: reports parked for it can go now.
                parked = [p for p in parked if self._send_control(p) is None]
        if not self._send_batches(batch):
            return sorted([*batch["event"], *batch["log"], *parked])
        return parked

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
                except _DeadRun:
                    dead += 1
            if dead:
                with self._cond:
                    self._note_drop(dead, "their flow run could not be created")
            if bodies and not self._retrying(
                functools.partial(self.transport.request, "POST", path, json=bodies, retry=False),
                len(bodies),
            ):
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
        except _DeadRun:
            with self._cond:
                self._note_drop(1, "their flow run could not be created")
            return True
        if item.kind == "call":
            return self._retrying(built, 1)
        method, path, body = built
        on_response = item.on_response

        def send() -> None:
            response = self.transport.request(method, path, json=body, retry=False)
            if on_response is not None:
                on_response(response)

        return self._retrying(send, 1)

    def _retrying(self, send: Callable[[], Any], n: int) -> bool:
        """Run one request with tenacity's retries; False means "stopped while unreachable"."""
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=lambda _state: self._stop.is_set(),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            retrying(send)
        except Exception as exc:
            if _retryable(exc):
                return False
            if not isinstance(exc, APIStatusError):
                raise
            with self._cond:
                self._note_drop(n, f"the server refused them ({exc})")
                self._errors.append(str(exc))
            return True
        self.sent_requests += 1
        if self._outage:
            self._outage = False
            logger.info("skiff reached the Prefect API again; sending the buffered reports")
        return True

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Wait):
            return error.delay
        return retry_delay(state.attempt_number, error)

    def _sleep(self, seconds: float) -> None:
        # A flush cuts a backoff short, so a server that is back is noticed at once.
        self._retry_wake.clear()
        self._retry_wake.wait(seconds)

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if error is not None and not isinstance(error, Wait):
            self.report_outage(error)

    def report_outage(self, error: BaseException) -> None:
        """Note that the server could not be reached; the first time, log the ONE warning."""
        if not self._outage:
            self._outage = True
            logger.warning(
                "skiff's reports to the Prefect API are failing (%s); flows keep running, and "
                "their reports stay buffered and are retried with backoff until flush() or "
                "exit gives up",
                error,
            )
        self._errors.append(str(error))
        del self._errors[:-10]

    # ----------------------------------------------------------------- shutdown and spool
    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the thread, and spool (or count as dropped) what could not be sent."""
        try:
            self._drain(timeout)
        finally:
            self._stop.set()
            self._retry_wake.set()
            with self._cond:
                self._cond.notify_all()
            self._thread.join(2.0)
            with self._cond:
                left = sorted(i for q in self._queues for i in q)
                for q in self._queues:
                    q.clear()
                self._count = 0
            if left and not (self.settings.spool_dir and self._spool(left)):
                with self._cond:
                    self._note_drop(len(left), "the Prefect API stayed unreachable until exit")

    def _spool(self, items: list[Item]) -> bool:
        # Only reports whose flow run has an id can be replayed later as plain requests.
        records: list[list[Any]] = []
        for item in items:
            if item.kind == "call":
                continue
            try:
                built = item.build()
            except (Unresolved, _DeadRun):
                continue
            if item.kind in ("event", "log"):
                records.append(["POST", "/events" if item.kind == "event" else "/logs/", [built]])
            else:
                records.append(list(built))
        if not records:
            return False
        directory = self.settings.spool_dir
        assert directory is not None
        path = os.path.join(directory, f"skiff-spool-{time.time_ns()}-{os.getpid()}.json")
        try:
            os.makedirs(directory, exist_ok=True)
            with open(path + ".tmp", "wb") as out:
                out.write(msgspec.json.encode(records))
            os.replace(path + ".tmp", path)
        except OSError as exc:
            logger.warning("skiff could not write its spool to %s: %s", directory, exc)
            return False
        logger.warning("skiff spooled %d unsent report(s) to %s", len(records), path)
        return True

    def _replay_spool(self) -> None:
        directory = self.settings.spool_dir
        if not directory or not os.path.isdir(directory):
            return
        for name in sorted(os.listdir(directory)):
            if not (name.startswith("skiff-spool-") and name.endswith(".json")):
                continue
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as src:
                    records = msgspec.json.decode(src.read())
                os.unlink(path)
            except (OSError, msgspec.DecodeError) as exc:
                logger.warning("skiff ignored unreadable spool file %s: %s", path, exc)
                continue
            for method, route, body in records:
                self.put(Item("request", KEEP, _const((method, route, body)), CONTROL_SIZE))
        self.kick()


def _const(value: Any) -> Callable[[], Any]:
    return lambda: value


# One reporter per (API URL, settings) in the process; adapters flush it between invocations.
_reporters: dict[Settings, Reporter] = {}
_lock = threading.Lock()


def _build_transport(settings: Settings) -> Transport:
    from skiff.client._sync._transport import Transport

    return Transport(settings)


def get(settings: Settings) -> Reporter:
    """The process's reporter for these settings, started on first use."""
    key = settings
    reporter = _reporters.get(key)
    if reporter is not None:
        return reporter
    with _lock:
        reporter = _reporters.get(key)
        if reporter is None:
            reporter = Reporter(settings, _build_transport(settings))
            if not _reporters:
                atexit.register(close_all)
            _reporters[key] = reporter
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
