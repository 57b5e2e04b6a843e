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

Deadlines: while a flush with a deadline runs, every request's timeout is cut to the
time left, and backoff sleeps end at it. When what is buffered would take longer than
the time left at the latency seen (:class:`~skiff._engine._budget.Latency`), the sender
hurries: flow-run creates and states first, then final task events, then other task
events, then logs from warning down to debug. Logs are sacrificed first.

Failures (fail open): a connection error, a timeout or a 408/429/502/503 is retried by
tenacity for as long as the process lives, or until a flush's deadline; the first
failure of an outage logs ONE warning on the ``skiff`` logger. Any other error status is
final: that request's reports are dropped (counted). Nothing blocks the user.

Delivery: a create whose answer was lost is looked up by its marker before it is sent
again, and task-run events carry their own ids, so both are retried after any failure
without duplicates. Logs
have no id on the server, so they are sent **at most once**: a log batch whose request
may have reached the server (reset, timeout after sending) is not sent again.

Memory bound: ``Settings.buffer_max_items`` and ``buffer_max_bytes``, counted with the
measured per-report cost of :mod:`~skiff._engine._items`. When full, the oldest report
of the lowest class goes first: debug logs, then info logs, then warning-and-above logs,
then task events that are not final, then final task events. Flow-run creates and
states are never dropped. Every drop is counted (:attr:`Reporter.dropped`) and the first
one logs a warning.

Spool: with ``Settings.spool_dir``, what an adapter's flush or the exit hook could not
send is written there (see :mod:`~skiff._engine._spool`) and replayed, once, by the next
flow run of this or another process.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import heapq
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception

from skiff._engine import _spool
from skiff._engine._budget import Latency, requests_needed
from skiff._engine._items import (
    DEBUG_LOG,
    FINAL_TASK_EVENT,
    INFO_LOG,
    KEEP,
    TASK_EVENT,
    WARNING_LOG,
    CreateSpec,
    DeadRun,
    Item,
    Unresolved,
    Wait,
)
from skiff._engine._wire import CREATE_MARKER
from skiff._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConflictError,
    ReportingError,
)
from skiff.client._base import decode, encode
from skiff.client._retry import parse_retry_after, retry_delay, should_retry

if TYPE_CHECKING:
    import httpx

    from skiff.client._settings import Settings
    from skiff.client._sync._transport import Transport

__all__ = ["Reporter", "all_reporters", "close_all", "get", "may_have_landed"]

logger = logging.getLogger("skiff")

_DROPPABLE = (DEBUG_LOG, INFO_LOG, WARNING_LOG, TASK_EVENT, FINAL_TASK_EVENT)
_LOGS = (DEBUG_LOG, INFO_LOG, WARNING_LOG)
# What a hurried sender takes first.
_HURRY_ORDER = (KEEP, FINAL_TASK_EVENT, TASK_EVENT, WARNING_LOG, INFO_LOG, DEBUG_LOG)

SEND_AT_ITEMS = 1000  # send without waiting for the interval once this many are buffered
MAX_BATCH = 500  # reports per POST /events or POST /logs/
TAKE_AT_ONCE = 2 * MAX_BATCH  # reports per round of the sender, so urgent ones get a turn
MIN_REQUEST_TIMEOUT = 0.05
FLUSH_BACKOFF_CAP = 1.0  # seconds between retries while a flush is waiting
HANDOFF_GRACE = 0.2  # seconds the sender gets to hand back what it holds before a freeze
MAX_ORDERING_WAITS = 10  # a create answered 409 while its parent lands is retried this often
# How far back a create whose answer was lost is looked for.
RECOVER_WINDOW = datetime.timedelta(hours=6)

SENT, UNREACHABLE, REFUSED = "sent", "unreachable", "refused"


def _retryable(error: BaseException) -> bool:
    return isinstance(error, Wait) or should_retry(error)


def may_have_landed(error: BaseException) -> bool:
    """Whether a failed request may still have been processed by the server."""
    if isinstance(error, APIConnectionError):
        return error.maybe_processed
    return isinstance(error, APIStatusError) and error.status_code == 502


class Reporter:
    """The process's reporting buffer and sender thread (one per API settings, see :func:`get`)."""

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.latency = Latency()
        self.dropped = 0
        self.sent_requests = 0
        self.flow_ids: dict[str, str] = {}
        self._queues: list[collections.deque[Item]] = [collections.deque() for _ in range(6)]
        self._count = 0
        self._bytes = 0
        self._seq = 0
        self._oldest: float | None = None
        self._cond = threading.Condition()
        self._inflight = 0
        self._kick = False
        self._deadlines: list[float] = []
        self._handoff = False
        self._stop = threading.Event()
        # Bumped by every flush and hand-off; a backoff sleep ends when it changes.
        self._wakes = 0
        self._attempt_wakes = 0
        self._outage = False
        self._warned_drop = False
        self._errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="skiff-reporter", daemon=True)
        self._thread.start()
        self.replay_spool()

    # ----------------------------------------------------------------- user side
    def put(self, item: Item, *, urgent: bool = False) -> None:
        """Buffer a report (never blocks on the network; may drop a lower-class one)."""
        with self._cond:
            self._seq += 1
            queue = self._queues[item.cls]
            if urgent:
                item.seq = -self._seq
                queue.appendleft(item)  # later urgent items go first: the deque stays sorted
            else:
                item.seq = self._seq
                queue.append(item)
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

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request through the reporter's transport, its latency recorded."""
        started = time.monotonic()
        try:
            response = self.transport.request(method, path, **kwargs)
        except APIStatusError:
            self.latency.observe(time.monotonic() - started)
            raise
        self.latency.observe(time.monotonic() - started)
        return response

    def create_flow_run(
        self,
        flow_name: str,
        body: dict[str, Any],
        *,
        deadline: float | None = None,
        recover: bool = False,
    ) -> httpx.Response:
        """``POST /flows/`` (once per name) and ``POST /flow_runs/``, without retries.

        With ``deadline`` (a :func:`time.monotonic` time) the requests together end by it.
        ``recover``: an earlier attempt may have created the run, so look for the run
        carrying this body's create marker first, and answer with it if it is there.
        """
        flow_id = self.flow_ids.get(flow_name)
        if flow_id is None:
            reply = self.request(
                "POST", "/flows/", json={"name": flow_name}, retry=False, **_until(deadline)
            )
            flow_id = self.flow_ids[flow_name] = decode(reply, Any)["id"]
        if recover:
            found = self._find_created(flow_id, body, deadline)
            if found is not None:
                return found
        return self.request(
            "POST",
            "/flow_runs/",
            json={**body, "flow_id": flow_id},
            retry=False,
            **_until(deadline),
        )

    def _find_created(
        self, flow_id: str, body: dict[str, Any], deadline: float | None
    ) -> httpx.Response | None:
        import httpx

        marker = (body.get("context") or {}).get(CREATE_MARKER)
        if marker is None:
            return None
        since = datetime.datetime.now(datetime.timezone.utc) - RECOVER_WINDOW
        reply = self.request(
            "POST",
            "/flow_runs/filter",
            json={
                "flows": {"id": {"any_": [flow_id]}},
                "flow_runs": {"expected_start_time": {"after_": since.isoformat()}},
                "sort": "EXPECTED_START_TIME_DESC",
                "limit": 200,
            },
            retry=False,
            **_until(deadline),
        )
        for run in decode(reply, list[dict[str, Any]]):
            if (run.get("context") or {}).get(CREATE_MARKER) == marker:
                # Our own earlier attempt landed: answer as its create would have (201).
                return httpx.Response(201, content=encode(run), request=reply.request)
        return None

    def flush(self, timeout: float | None = None, *, spool_rest: bool = False) -> bool:
        """Send everything buffered; True when nothing is left. ``None`` means flush_timeout.

        With ``spool_rest`` (adapters, before a freeze) what is still unsent when the time
        is up goes to the spool, if one is set, within the same ``timeout``.
        """
        done = self._drain(timeout, spool_rest)
        if self.settings.strict:
            self.raise_if_failed(done)
        return done

    def _drain(self, timeout: float | None, spool_rest: bool = False) -> bool:
        timeout = self.settings.flush_timeout if timeout is None else timeout
        grace = min(HANDOFF_GRACE, timeout / 4) if spool_rest and self.settings.spool_dir else 0
        deadline = time.monotonic() + timeout - grace
        with self._cond:
            self._deadlines.append(deadline)
            self._kick = True
            self._wakes += 1
            self._cond.notify_all()
            try:
                while self._count or self._inflight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        break
                    self._cond.wait(min(remaining, 0.05))
                done = not self._count and not self._inflight
                if not done and grace:
                    done = self._hand_off(grace)
            finally:
                self._deadlines.remove(deadline)
        return done

    def _hand_off(self, grace: float) -> bool:
        # Called with the lock held, past a flush deadline: pause the sender, give it
        # ``grace`` seconds to hand back what it holds (its requests already end at the
        # deadline), and spool everything. True when nothing is left in memory.
        self._handoff = True
        self._wakes += 1
        self._cond.notify_all()
        try:
            end = time.monotonic() + grace
            while self._inflight and time.monotonic() < end:
                self._cond.wait(0.01)
            kept = self._spool_items(self._take_all())
        finally:
            self._handoff = False
            self._cond.notify_all()
        self._requeue(kept)
        return not self._count and not self._inflight

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

    @property
    def flush_deadline(self) -> float | None:
        """The earliest deadline of the flushes running now (a :func:`time.monotonic` time)."""
        return min(self._deadlines, default=None)

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
                "counted, see skiff._engine.dropped_reports()",
                n,
                why,
            )

    def _hurry(self) -> bool:
        # Called with the lock held: would sending everything overrun the flush deadline?
        deadline = self.flush_deadline
        if deadline is None:
            return False
        q = self._queues
        needed = requests_needed(
            len(q[KEEP]),
            len(q[TASK_EVENT]) + len(q[FINAL_TASK_EVENT]),
            sum(len(q[c]) for c in _LOGS),
            MAX_BATCH,
        )
        return needed * self.latency.estimate() > deadline - time.monotonic()

    def _take(self) -> list[Item]:
        # Called with the lock held: the next chunk, oldest first (urgent items, which carry
        # negative sequence numbers, before all), or by importance when in a hurry.
        if self._hurry():
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
        self._account_taken(items)
        return items

    def _take_all(self) -> list[Item]:
        # Called with the lock held.
        items = sorted(i for q in self._queues for i in q)
        for q in self._queues:
            q.clear()
        self._count = self._bytes = 0
        self._oldest = None
        return items

    def _account_taken(self, items: list[Item]) -> None:
        self._inflight = len(items)
        self._count -= len(items)
        self._bytes -= sum(i.size for i in items)
        if not self._count:
            self._oldest = None

    def _requeue(self, items: list[Item]) -> None:
        if not items:
            return
        with self._cond:
            by_class: dict[int, list[Item]] = collections.defaultdict(list)
            for item in items:
                by_class[item.cls].append(item)
                self._count += 1
                self._bytes += item.size
            for cls, returned in by_class.items():
                queue = self._queues[cls]
                merged = list(heapq.merge(sorted(returned), queue))
                queue.clear()
                queue.extend(merged)
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._shed()

    # ----------------------------------------------------------------- sender thread
    def _due(self) -> bool:
        if self._handoff:
            return False
        if self._stop.is_set() or self._kick or self._deadlines:
            return bool(self._count) or self._stop.is_set()
        if self._oldest is None:
            return False
        return time.monotonic() - self._oldest >= self.settings.flush_interval

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._due():
                    wait = 0.05 if self._deadlines else None
                    if self._oldest is not None:
                        age = time.monotonic() - self._oldest
                        wait = min(wait or 1e9, max(0.0, self.settings.flush_interval - age))
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
            self._requeue(rest)
            with self._cond:
                self._inflight = 0
                self._cond.notify_all()
                if rest and len(rest) == len(items):
                    if self._stop.is_set():
                        return
                    # Nothing could go: wait for the run those reports need, or the server.
                    self._cond.wait(0.05 if self._deadlines else self.settings.flush_interval)

    def _process(self, items: list[Item]) -> list[Item]:
        """Send items in order; return the ones to keep for later."""
        batch: dict[str, list[Item]] = {"event": [], "log": []}
        parked: list[Item] = []
        for index, item in enumerate(items):
            if self._handoff:  # the spool takes over: send nothing more
                return [*batch["event"], *batch["log"], *parked, *items[index:]]
            if item.kind in batch:
                if item.skip is not None and item.skip():
                    continue
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
                with self._cond:
                    self._note_drop(dead, "their flow run could not be created")
            if bodies:

                def send(timeout: Any, bodies: list[Any] = bodies, path: str = path) -> None:
                    self.request("POST", path, json=bodies, retry=False, **timeout)

                outcome = self._retrying(send, len(bodies), at_most_once=kind == "log")
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
            with self._cond:
                self._note_drop(1, "their flow run could not be created")
            return True
        if isinstance(built, CreateSpec):
            outcome = self._retrying(self._creator(built), 1)
            if outcome == REFUSED:
                built.run.dead = True
            return outcome != UNREACHABLE
        method, path, body = built
        on_response = item.on_response
        body_kw: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}

        def send(timeout: Any) -> None:
            response = self.request(method, path, retry=False, **body_kw, **timeout)
            if on_response is not None:
                on_response(response)

        return self._retrying(send, 1, at_most_once=item.cls in _LOGS) != UNREACHABLE

    def _creator(self, spec: CreateSpec) -> Callable[[dict[str, Any]], None]:
        waits = [0]

        def create(timeout: dict[str, Any]) -> None:
            deadline = time.monotonic() + timeout["timeout"] if timeout else None
            try:
                reply = self.create_flow_run(
                    spec.flow_name, spec.body, deadline=deadline, recover=spec.run.maybe_created
                )
            except APIConnectionError as exc:
                spec.run.maybe_created = spec.run.maybe_created or exc.maybe_processed
                raise
            except ConflictError:
                # The parent task run this child points at may not have landed yet.
                waits[0] += 1
                if "parent_task_run_id" in spec.body and waits[0] <= MAX_ORDERING_WAITS:
                    raise Wait(1.0) from None
                raise
            data = decode(reply, Any)
            spec.run.resolve(data["id"], data.get("name"), self.flow_ids.get(spec.flow_name))
            if spec.on_created is not None:
                spec.on_created(reply.status_code, data)

        return create

    def _retrying(
        self, send: Callable[[dict[str, Any]], Any], n: int, *, at_most_once: bool = False
    ) -> str:
        """Run one request with tenacity's retries; returns SENT, UNREACHABLE or REFUSED."""

        def again(error: BaseException) -> bool:
            return _retryable(error) and not (at_most_once and may_have_landed(error))

        retrying = Retrying(
            retry=retry_if_exception(again),
            wait=self._wait,
            stop=lambda _state: self._stop.is_set() or self._handoff,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

        def attempt() -> Any:
            self._attempt_wakes = self._wakes  # a flush from now on cuts the next backoff
            return send(self._timeout())

        try:
            retrying(attempt)
        except Exception as exc:
            if again(exc):
                return UNREACHABLE
            with self._cond:
                if at_most_once and _retryable(exc):
                    self._note_drop(n, f"they may have reached the server already ({exc})")
                else:
                    self._note_drop(n, f"the server refused them ({exc})")
                self._errors.append(str(exc))
            if not isinstance(exc, (APIStatusError, APIConnectionError, Wait)):
                logger.warning("skiff could not send %d report(s): %r", n, exc)
            return REFUSED
        self.sent_requests += 1
        if self._outage:
            self._outage = False
            logger.info("skiff reached the Prefect API again; sending the buffered reports")
        return SENT

    def _timeout(self) -> dict[str, Any]:
        deadline = self.flush_deadline
        if deadline is None:
            return {}
        left = deadline - time.monotonic()
        return {"timeout": max(MIN_REQUEST_TIMEOUT, min(self.settings.request_timeout, left))}

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Wait):
            return error.delay
        delay = retry_delay(state.attempt_number, error, patient=False)
        if self._deadlines:
            # A flush is waiting: keep trying often, unless the server asked for longer.
            asked = None
            if isinstance(error, APIStatusError):
                asked = parse_retry_after(error.response.headers.get("retry-after"))
            delay = min(delay, max(FLUSH_BACKOFF_CAP, asked or 0.0))
        return delay

    def _sleep(self, seconds: float) -> None:
        # A flush that began since the last attempt ends the backoff at once, and the
        # deadline of a running flush ends it too.
        end = time.monotonic() + seconds
        with self._cond:
            while self._wakes == self._attempt_wakes and not self._stop.is_set():
                deadline = self.flush_deadline
                until = min(end, deadline) if deadline is not None else end
                left = until - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.25))

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

    # ----------------------------------------------------------------- shutdown
    def close(self, timeout: float | None = None) -> None:
        """Flush, stop the thread, and spool (or count as dropped) what could not be sent."""
        try:
            self._drain(timeout)
        finally:
            self._stop.set()
            with self._cond:
                self._wakes += 1
                self._cond.notify_all()
            self._thread.join(2.0)
            with self._cond:
                left = self._spool_items(self._take_all())
            if left:
                last = self._errors[-1] if self._errors else "no answer in time"
                with self._cond:
                    self._note_drop(
                        len(left), f"they could not be sent before the flush deadline ({last})"
                    )


def _until(deadline: float | None) -> dict[str, Any]:
    """Request keywords that end the request by ``deadline``."""
    if deadline is None:
        return {}
    left = deadline - time.monotonic()
    if left <= 0:
        raise APITimeoutError("the time for this request was used up before it could start")
    return {"timeout": left}


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
