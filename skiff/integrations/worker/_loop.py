"""The shared worker loop: pool, heartbeats, pickup (events first, polling behind), watch.

One asyncio task per duty:

* **heartbeat** every ``heartbeat_interval`` s (``POST /work_pools/{name}/workers/heartbeat``),
  re-reading the pool's template so edits in the UI apply to the next run;
* **poll**: ``get_scheduled_flow_runs`` for runs due within ``poll_interval``; those due
  now are submitted, the earliest later one sets the next wake-up (then polled again, so
  the server's pool and queue concurrency limits, which it applies in that call, hold);
  it also wakes at once when the **events** task sees a ``prefect.flow-run.Scheduled``
  event of this pool on ``/api/events/out`` (and, when the pool has a concurrency limit,
  a run of it reaching a final state: a slot is free);
* **watch** every ``watch_interval`` s: a submitted run still Pending after its
  ``start_timeout`` is Crashed; a run the dispatcher sees gone is Crashed, and so is a
  running one the dispatcher cannot see (a Lambda ``Event`` invocation, a queue message)
  that sent no heartbeat (``prefect.flow-run.heartbeat``) and changed no state for its
  ``heartbeat_timeout``; a Cancelling
  run of the pool that never started is cancelled here, looked for at each
  ``prefect.flow-run.Cancelling`` event of the pool and every ``poll_interval`` (a
  running one is stopped by its own flow, through the reporter).

A server that goes away makes each task log once and retry; runs scheduled meanwhile are
picked up by the next poll that gets an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from skiff._exceptions import APIError, ConflictError, NotFoundError
from skiff.client import AsyncClient
from skiff.integrations.worker._dispatch import (
    Dispatcher,
    Liveness,
    PoolTypeMismatchError,
    base_job_template,
    dispatcher_for,
)
from skiff.integrations.worker._runs import FINAL_TYPES, RunDriver, Submitted

__all__ = ["Worker"]

logger = logging.getLogger("skiff.worker")

_GONE_GRACE = 3.0  # seconds a gone invocation gets for its final state to land
_FINAL_EVENTS = frozenset({"Completed", "Failed", "Crashed", "Cancelled"})


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).isoformat()


def _parse(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Worker:
    """A worker for one pool of serverless functions (``lambda``, ``cloud-functions``...).

    Example::

        worker = Worker("my-pool", "lambda")
        asyncio.run(worker.run())      # until worker.stop() or a signal

    ``work_queues`` limits pickup to those queues (default: all of the pool's);
    ``start_timeout`` and ``heartbeat_timeout`` are used when the pool's template lacks them;
    ``use_events=False`` polls only. Pool and queue concurrency limits are the server's.
    """

    def __init__(
        self,
        pool: str,
        pool_type: str,
        *,
        api_url: str | None = None,
        name: str | None = None,
        work_queues: list[str] | None = None,
        poll_interval: float = 10.0,
        heartbeat_interval: float = 30.0,
        watch_interval: float = 1.0,
        start_timeout: float = 60.0,
        heartbeat_timeout: float = 90.0,
        use_events: bool = True,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.pool = pool
        self.pool_type = pool_type
        self.name = name or f"skiff-{pool_type}-{uuid.uuid4().hex[:8]}"
        self.work_queues = list(work_queues or [])
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.watch_interval = watch_interval
        self.use_events = use_events
        self.dispatcher = dispatcher or dispatcher_for(pool_type)()
        self.client = AsyncClient(api_url) if api_url else AsyncClient()
        self.runs = RunDriver(
            self.client,
            self.dispatcher,
            self.name,
            default_start_timeout=start_timeout,
            default_heartbeat_timeout=heartbeat_timeout,
        )
        self.pool_id: str | None = None
        self.limited = False  # the pool has a concurrency limit: a finished run frees a slot
        self.submitted: dict[str, Submitted] = {}
        self._inflight: set[str] = set()
        self._submissions: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()
        self._failing: set[str] = set()  # duties whose last call failed (logged once)
        self._cancel_due = 0.0  # when the watch next looks for cancelled, unstarted runs

    # ------------------------------------------------------------------ lifecycle
    async def setup(self) -> None:
        """Create the pool (or check its type) and send the first heartbeat."""
        try:
            pool = (await self.client.request("GET", f"/work_pools/{self.pool}")).json()
        except NotFoundError:
            body = {
                "name": self.pool,
                "type": self.pool_type,
                "base_job_template": base_job_template(type(self.dispatcher)),
            }
            try:
                pool = (await self.client.request("POST", "/work_pools/", json=body)).json()
                logger.info("created work pool %r of type %r", self.pool, self.pool_type)
            except ConflictError:  # another worker created it meanwhile
                pool = (await self.client.request("GET", f"/work_pools/{self.pool}")).json()
        if pool.get("type") != self.pool_type:
            raise PoolTypeMismatchError(
                f"work pool {self.pool!r} has type {pool.get('type')!r}, not {self.pool_type!r}: "
                f"start the worker with --type {pool.get('type')}, or use another pool name"
            )
        self._learn(pool)
        await self._heartbeat()

    def _learn(self, pool: Mapping[str, Any]) -> None:
        self.pool_id = str(pool["id"])
        self.limited = pool.get("concurrency_limit") is not None
        self.runs.template = pool.get("base_job_template") or base_job_template(
            type(self.dispatcher)
        )

    async def run(self) -> None:
        """Serve the pool until :meth:`stop`; raises only for a setup error."""
        await self.setup()
        tasks = [
            asyncio.create_task(self._duty("heartbeat", self._heartbeat, self.heartbeat_interval)),
            asyncio.create_task(self._poll_loop()),
            asyncio.create_task(self._duty("watch", self._watch, self.watch_interval)),
        ]
        if self.use_events:
            tasks.append(asyncio.create_task(self._events_loop()))
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            # Submissions under way finish (a locked run must get its pid or its crash).
            await asyncio.gather(*self._submissions, return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self.dispatcher.close)
            await self.client.aclose()

    def stop(self) -> None:
        """Ask :meth:`run` to return (runs already submitted go on in their functions)."""
        self._stopping.set()

    async def wait_ready(self) -> None:
        """Wait until the pool is set up and the duties run."""
        await self._ready.wait()

    # ------------------------------------------------------------------ duties
    async def _duty(self, what: str, step: Any, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._guarded(what, step)

    async def _guarded(self, what: str, step: Any) -> None:
        try:
            await step()
        except APIError as exc:
            if what not in self._failing:
                logger.warning("worker %s: %s failed, retrying: %s", self.name, what, exc)
                self._failing.add(what)
            return
        except Exception:
            logger.exception("worker %s: %s failed", self.name, what)
            return
        if what in self._failing:
            logger.info("worker %s: %s works again", self.name, what)
            self._failing.discard(what)

    async def _heartbeat(self) -> None:
        await self.client.request(
            "POST",
            f"/work_pools/{self.pool}/workers/heartbeat",
            json={"name": self.name, "heartbeat_interval_seconds": self.heartbeat_interval},
        )
        pool = (await self.client.request("GET", f"/work_pools/{self.pool}")).json()
        self._learn(pool)

    async def _poll_loop(self) -> None:
        while True:
            self._wake.clear()
            next_due: float | None = None

            async def poll() -> None:
                nonlocal next_due
                next_due = await self._poll()

            await self._guarded("poll", poll)
            wait = self.poll_interval
            if next_due is not None:
                wait = max(0.0, min(wait, next_due - time.time()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _poll(self) -> float | None:
        """Submit the runs due now; the time of the earliest run due later, if any."""
        now = time.time()
        body: dict[str, Any] = {
            "scheduled_before": _iso(
                _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=self.poll_interval)
            )
        }
        if self.work_queues:
            body["work_queue_names"] = self.work_queues
        reply = await self.client.request(
            "POST", f"/work_pools/{self.pool}/get_scheduled_flow_runs", json=body
        )
        next_due: float | None = None
        for entry in reply.json():
            run = entry["flow_run"]
            run_id = str(run["id"])
            due = _parse(run.get("next_scheduled_start_time")) or now
            if due > now + 0.05:
                next_due = due if next_due is None else min(next_due, due)
            elif run_id not in self._inflight:
                self._inflight.add(run_id)
                task = asyncio.create_task(self._submit(run))
                self._submissions.add(task)
                task.add_done_callback(self._submissions.discard)
        return next_due

    async def _submit(self, run: Mapping[str, Any]) -> None:
        run_id = str(run["id"])
        try:
            record = await self.runs.submit(run)
        except APIError as exc:
            # Before the lock nothing happened; after it, the watch or a later poll settles it.
            logger.warning("worker %s: submitting flow run %s failed: %s", self.name, run_id, exc)
            record = None
        except Exception:
            logger.exception("worker %s: submitting flow run %s failed", self.name, run_id)
            record = None
        finally:
            self._inflight.discard(run_id)
        if record is not None:
            self.submitted[run_id] = record

    async def _events_loop(self) -> None:
        """React to this pool's flow-run events; resubscribe on failure (polling goes on).

        Scheduled: poll now. Cancelling: look for cancelled runs that never started. A
        final state, when the pool has a concurrency limit: a slot is free, poll now.
        """
        event_filter = {
            "event": {"prefix": ["prefect.flow-run."]},
            "related": {"id": [f"prefect.work-pool.{self.pool_id}"]},
        }
        while True:
            try:
                async with self.client.events.subscribe(filter=event_filter) as events:
                    async for event in events:
                        state = event.event.rsplit(".", 1)[-1]
                        if state == "Scheduled" or (self.limited and state in _FINAL_EVENTS):
                            self._wake.set()
                        elif state == "Cancelling":
                            self._cancel_due = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream is an accelerator; polling goes on
                if "events" not in self._failing:
                    logger.warning("worker %s: events stream lost, polling: %s", self.name, exc)
                    self._failing.add("events")
            await asyncio.sleep(self.poll_interval)

    async def _watch(self) -> None:
        """Crash what never started or died; cancel what was cancelled before it started."""
        if time.monotonic() >= self._cancel_due:
            self._cancel_due = time.monotonic() + self.poll_interval
            await self._cancel_unstarted()
        if not self.submitted:
            return
        ids = list(self.submitted)
        reply = await self.client.request(
            "POST",
            "/flow_runs/filter",
            json={"flow_runs": {"id": {"any_": ids}}, "limit": len(ids)},
        )
        states = {str(r["id"]): r for r in reply.json()}
        for run_id in ids:
            record = self.submitted[run_id]
            run = states.get(run_id)
            state_type = ((run or {}).get("state") or {}).get("type")
            if run is None or state_type in FINAL_TYPES or state_type == "CANCELLING":
                self.submitted.pop(run_id, None)
            elif state_type in ("PENDING", "SCHEDULED"):
                if time.monotonic() - record.submitted_at > record.start_timeout:
                    self.submitted.pop(run_id, None)
                    await self.runs.crash(
                        run_id,
                        f"the function did not report the flow run RUNNING within "
                        f"{record.start_timeout:g} s of its invocation "
                        f"({record.infrastructure_pid}); see the function's logs: it must "
                        "call a skiff-wrapped flow and reach PREFECT_API_URL (raise the "
                        "start_timeout job variable for slow cold starts)",
                    )
            else:
                await self._observe(run_id, record, run)

    async def _observe(self, run_id: str, record: Submitted, run: Mapping[str, Any]) -> None:
        pid = record.infrastructure_pid
        liveness = await asyncio.to_thread(self.dispatcher.observe, pid, record.config)
        if liveness is Liveness.UNKNOWN:
            await self._listen(run_id, record, run)
        elif liveness is Liveness.ALIVE:
            record.gone_since = None
        elif record.gone_since is None:
            record.gone_since = time.monotonic()
        elif time.monotonic() - record.gone_since > _GONE_GRACE:
            self.submitted.pop(run_id, None)
            await self.runs.crash(run_id, self.dispatcher.gone_message(pid))

    async def _listen(self, run_id: str, record: Submitted, run: Mapping[str, Any]) -> None:
        """The cloud cannot tell whether the invocation runs: the flow's heartbeats do."""
        changed = _parse((run.get("state") or {}).get("timestamp")) or time.time()
        record.heard_at = max(record.heard_at or changed, changed)
        if time.time() - record.heard_at <= record.heartbeat_timeout:
            return
        beat = await self.runs.last_heartbeat(run_id, since=record.heard_at)
        if beat is not None:
            record.heard_at = max(record.heard_at, beat)
            return
        self.submitted.pop(run_id, None)
        await self.runs.crash(
            run_id,
            f"the flow run sent no heartbeat for {record.heartbeat_timeout:g} s while RUNNING "
            f"({record.infrastructure_pid}): its function died (out of memory, killed, or it "
            "exited); see the function's logs (raise the heartbeat_timeout job variable if "
            "its SKIFF_HEARTBEAT_INTERVAL is longer)",
        )

    async def _cancel_unstarted(self) -> None:
        """Cancelling runs of this pool that never ran: nothing will stop them but us."""
        reply = await self.client.request(
            "POST",
            "/flow_runs/filter",
            json={
                "work_pools": {"name": {"any_": [self.pool]}},
                "flow_runs": {
                    "state": {"type": {"any_": ["CANCELLING"]}},
                    "start_time": {"is_null_": True},
                },
                "limit": 50,
            },
        )
        for run in reply.json():
            run_id = str(run["id"])
            record = self.submitted.pop(run_id, None)
            pid = run.get("infrastructure_pid") or (record.infrastructure_pid if record else None)
            if pid:
                config = record.config if record else {}
                await asyncio.to_thread(self.dispatcher.kill, pid, config)
            await self.runs.cancel(run_id, "Cancelled by the worker before the function started.")
