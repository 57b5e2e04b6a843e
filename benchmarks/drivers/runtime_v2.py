"""The side of ``benchmarks/bench_runtime_v2.py`` that runs inside one side's interpreter.

    python runtime_v2.py --side skiff|lean|prefect|floor|floor-lean --sizes 200 1000
        --zero-runs 5 --server-pgid PID --out FILE

Imports only the standard library, httpx and the side's own packages (skiff, or prefect
3.9.1; the floors use bare httpx and msgspec). PREFECT_API_URL names the server, and
``lean`` is skiff run with ``SKIFF_LEAN_TASK_EVENTS=true`` in its environment.

One round: a warm-up, ``--zero-runs`` zero-task flows (the call, the call until the final
state is on the server, the HTTP requests sent), then one flow per size with that many
empty sync tasks (the call, its in-body loop, the caller thread's CPU and its waits in
HTTP requests, and the time from the flow's start until ``POST /task_runs/count`` shows
every task run COMPLETED). Before every timed flow it waits until the server's process
group is idle (its CPU, from /proc), so one flow's backlog never slows the next.

The floors make the records directly on a warm connection: create the run PENDING,
set_state Running, the task events (3 per task, or 1 for ``floor-lean``) in batches of
500, set_state Completed, and one ``POST /logs/`` with the two engine lines.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx

FLOW_NAME = "skiff-bench-v2"
SIDES = ("skiff", "lean", "prefect", "floor", "floor-lean")
EVENT_BATCH = 500  # events per POST /events, as skiff's reporter batches them
VISIBLE_TIMEOUT = 180.0

_sent: list[str] = []
# Seconds the caller's (main) thread spent waiting in requests: the server's share of a flow call.
_caller_waits: list[float] = []


def _count_requests() -> None:
    """Record every request httpx sends, from any client or thread, and the caller's waits."""
    sync_send = httpx.HTTPTransport.handle_request
    main = threading.main_thread()

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        _sent.append(f"{request.method} {request.url.path}")
        if threading.current_thread() is not main:
            return sync_send(self, request)
        start = time.perf_counter()
        try:
            return sync_send(self, request)
        finally:
            _caller_waits.append(time.perf_counter() - start)

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]


def _server_cpu(pgid: int) -> float:
    """CPU seconds used so far by every process of the server's process group."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pgid: int, window: float = 0.3, busy: float = 0.1, timeout: float = 240) -> None:
    """Wait until the server used under ``busy`` of a core for two windows in a row."""
    if not os.path.isdir("/proc"):
        time.sleep(1.0)
        return
    deadline = time.monotonic() + timeout
    quiet, last = 0, _server_cpu(pgid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(window)
        now = _server_cpu(pgid)
        quiet = quiet + 1 if (now - last) / window < busy else 0
        last = now


def _post(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    # What every real client retries: a busy SQLite server answers 503 now and then.
    for attempt in range(8):
        try:
            reply = client.post(path, **kwargs)
            if reply.status_code not in (429, 503) or attempt == 7:
                return reply.raise_for_status()
        except httpx.TransportError:
            if attempt == 7:
                raise
        time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def _skiff_side() -> tuple[Any, Any, list[float]]:
    from skiff import flow, flush, runtime, task

    loops: list[float] = []

    @task
    def noop() -> None:
        return None

    @flow(name=FLOW_NAME)
    def work(n: int) -> str:
        start = time.perf_counter()
        for _ in range(n):
            noop()
        loops.append(time.perf_counter() - start)
        return str(runtime.flow_run.id)

    def done() -> None:
        if not flush(timeout=120):
            raise RuntimeError("skiff.flush() left reports unsent")

    return work, done, loops


def _prefect_side() -> tuple[Any, Any, list[float]]:
    from prefect import flow, task
    from prefect.runtime import flow_run

    loops: list[float] = []

    @task
    def noop() -> None:
        return None

    @flow(name=FLOW_NAME)
    def work(n: int) -> str:
        start = time.perf_counter()
        for _ in range(n):
            noop()
        loops.append(time.perf_counter() - start)
        return str(flow_run.id)

    # Prefect has no flush: its flow call returns once the final state is set.
    return work, lambda: None, loops


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _events(flow_run_id: str, index: int, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """One task run's state events, shaped as Prefect's engine sends them."""
    task_run_id, name, previous = str(uuid.uuid4()), f"noop-{index}", None
    events = []
    for state in states:
        now = _now()
        events.append(
            {
                "id": str(uuid.uuid4()),
                "occurred": now,
                "event": f"prefect.task-run.{state.title()}",
                "resource": {
                    "prefect.resource.id": f"prefect.task-run.{task_run_id}",
                    "prefect.resource.name": name,
                    "prefect.state-type": state,
                    "prefect.state-name": state.title(),
                    "prefect.orchestration": "client",
                },
                "related": [
                    {
                        "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                        "prefect.resource.role": "flow-run",
                    }
                ],
                "payload": {
                    "intended": {"from": previous, "to": state},
                    "validated_state": {"type": state, "name": state.title(), "message": ""},
                    "task_run": {
                        "name": name,
                        "task_key": "noop",
                        "dynamic_key": task_run_id,
                        "run_count": 0 if state == "PENDING" else 1,
                        "task_inputs": {},
                        "tags": [],
                        "empirical_policy": {"retries": 0, "retry_delay": 0},
                        "expected_start_time": now,
                        "start_time": None if state == "PENDING" else now,
                        "end_time": now if state == "COMPLETED" else None,
                    },
                },
            }
        )
        previous = state
    return events


def _floor_side(client: httpx.Client, lean: bool) -> tuple[Any, Any, list[float]]:
    """The requests a Prefect-identical record needs, made directly on a warm connection."""
    import msgspec

    states = ("COMPLETED",) if lean else ("PENDING", "RUNNING", "COMPLETED")
    flow_id = _post(client, "/flows/", json={"name": FLOW_NAME}).json()["id"]
    loops: list[float] = []

    def work(n: int) -> str:
        create = {
            "flow_id": flow_id,
            "state": {"type": "PENDING", "name": "Pending"},
            "parameters": {"n": n},
            "tags": [],
            "empirical_policy": {"retries": 0, "retry_delay": 0},
        }
        run = _post(client, "/flow_runs/", json=create).json()
        run_id = run["id"]
        running = {"state": {"type": "RUNNING", "name": "Running"}, "force": False}
        _post(client, f"/flow_runs/{run_id}/set_state", json=running)
        begun = _now()
        start = time.perf_counter()
        batches = []
        for first in range(0, n, EVENT_BATCH):
            batch = [
                e
                for i in range(first, min(n, first + EVENT_BATCH))
                for e in _events(run_id, i, states)
            ]
            batches.append(msgspec.json.encode(batch))
        loops.append(time.perf_counter() - start)
        for body in batches:
            _post(client, "/events", content=body, headers={"content-type": "application/json"})
        completed = {"state": {"type": "COMPLETED", "name": "Completed"}, "force": False}
        _post(client, f"/flow_runs/{run_id}/set_state", json=completed)
        lines = [
            (begun, f"Beginning flow run {run['name']!r} for flow {FLOW_NAME!r}"),
            (_now(), "Finished in state Completed()"),
        ]
        logs = [
            {"name": "prefect.flow_runs", "level": 20, "message": message, "timestamp": stamp}
            | {"flow_run_id": run_id, "task_run_id": None}
            for stamp, message in lines
        ]
        _post(client, "/logs/", json=logs)
        return str(run_id)

    return work, lambda: None, loops


def _completed(client: httpx.Client, flow_run_id: str) -> int:
    body = {
        "flow_runs": {"id": {"any_": [flow_run_id]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
    }
    count: int = _post(client, "/task_runs/count", json=body).json()
    return count


def driver(side: str, sizes: list[int], zero_runs: int, pgid: int) -> dict[str, Any]:
    """One side's round: warm-up, zero-task flows, then one flow per size; the samples."""
    _count_requests()
    api = os.environ["PREFECT_API_URL"].rstrip("/") + "/"
    with httpx.Client(base_url=api, timeout=30) as client:
        if side in ("skiff", "lean"):
            work, done, loops = _skiff_side()
        elif side == "prefect":
            work, done, loops = _prefect_side()
        else:
            work, done, loops = _floor_side(client, lean=side == "floor-lean")
        work(0), work(3), done()  # warm-up: connections, flow registration, lazy imports
        zero = []
        for _ in range(zero_runs):
            wait_idle(pgid)
            before, waits = len(_sent), len(_caller_waits)
            start, cpu = time.perf_counter(), time.thread_time()
            work(0)
            call, cpu = time.perf_counter() - start, time.thread_time() - cpu
            waited = sum(_caller_waits[waits:])
            done()
            e2e = time.perf_counter() - start
            zero.append(
                {"call": call, "cpu": cpu, "waited": waited, "e2e": e2e, "requests": _sent[before:]}
            )
        tasks: list[dict[str, float | None]] = []
        for n in sizes:
            wait_idle(pgid)
            waits = len(_caller_waits)
            start, cpu = time.perf_counter(), time.thread_time()
            run_id = work(n)
            call, cpu = time.perf_counter() - start, time.thread_time() - cpu
            waited = sum(_caller_waits[waits:])
            seen = _completed(client, run_id)
            while seen < n and time.perf_counter() - start < VISIBLE_TIMEOUT:
                time.sleep(0.1)
                seen = _completed(client, run_id)
            visible = time.perf_counter() - start if seen >= n else None
            done()
            sample: dict[str, float | None] = {"n": n, "call": call, "cpu": cpu, "waited": waited}
            tasks.append(sample | {"loop": loops[-1], "visible": visible, "seen": seen})
    return {"zero": zero, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", required=True, choices=SIDES)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--zero-runs", type=int, default=5)
    parser.add_argument("--server-pgid", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = driver(args.side, args.sizes, args.zero_runs, args.server_pgid)
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
