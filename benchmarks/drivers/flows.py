"""Runs flows inside one process and writes timings as JSON; started by b3 and b4.

    python flows.py zero  --side skiff|prefect|floor --runs K --out FILE
    python flows.py tasks --side skiff|prefect|floor --tasks N --run-name NAME --out FILE

Runs under skiff's interpreter (skiff, floor) or prefect-client's (prefect), so it imports only
the standard library and the side's own packages. PREFECT_API_URL names the server.

``zero``: one warm-up flow, then K timed empty flows, each with the HTTP requests it sent
(counted at the httpx transport; prefect's websocket events are not HTTP requests). The floor
does the least a correct flow run needs with bare httpx on a warm connection: create the run
RUNNING, then set it COMPLETED (two writes on the server).

``tasks``: a warm-up flow with a few tasks, then one flow named ``--run-name`` that calls N
empty tasks one after another. Reports the epoch time the flow started, its wall time and the
time its body spent in the loop of task calls. The floor posts one
``prefect.task-run.Completed`` event per task to POST /events, the least a client must send.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

API = os.environ["PREFECT_API_URL"].rstrip("/")
FLOW_NAME = "skiff-bench"
EVENT_BATCH = 200
# The floor retries what every real client retries: a SQLite-backed server under sustained
# writes now and then answers 503 or drops a keep-alive connection.
FLOOR_ATTEMPTS = 5
FLOOR_RETRY_DELAY = 0.1

_requests: list[int] = []
# Seconds each flow body spent calling its tasks.
_loops: list[float] = []


def _count_requests() -> None:
    """Count every request httpx sends, whichever client or thread sends it."""
    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        _requests.append(1)
        return sync_send(self, request)

    async def handle_async_request(
        self: httpx.AsyncHTTPTransport, request: httpx.Request
    ) -> httpx.Response:
        _requests.append(1)
        return await async_send(self, request)

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]


def _skiff_flow(run_name: str | None, tasks: int) -> Callable[[], None]:
    from skiff import flow, flush, task

    @task
    def noop() -> None:
        return None

    @flow(name=FLOW_NAME, flow_run_name=run_name) if run_name else flow(name=FLOW_NAME)
    def work() -> None:
        start = time.perf_counter()
        for _ in range(tasks):
            noop()
        _loops.append(time.perf_counter() - start)

    def call() -> None:
        work()
        # Part of the measured work: the run is only done when the server has it all.
        if not flush(timeout=120):
            raise RuntimeError("skiff.flush() left reports unsent")

    return call


def _prefect_flow(run_name: str | None, tasks: int) -> Callable[[], None]:
    from prefect import flow, task

    @task
    def noop() -> None:
        return None

    @flow(name=FLOW_NAME, flow_run_name=run_name) if run_name else flow(name=FLOW_NAME)
    def work() -> None:
        start = time.perf_counter()
        for _ in range(tasks):
            noop()
        _loops.append(time.perf_counter() - start)

    # prefect-client offers no flush: its flow call returns once the final state is set.
    return work


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _floor_post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    attempt = 1
    while True:
        try:
            reply = client.post(f"{API}{path}", json=body)
            if reply.status_code != 503 or attempt == FLOOR_ATTEMPTS:
                return reply.raise_for_status()
        except httpx.TransportError:
            if attempt == FLOOR_ATTEMPTS:
                raise
        attempt += 1
        time.sleep(FLOOR_RETRY_DELAY)


def _floor_flow(client: httpx.Client, run_name: str | None, tasks: int) -> Callable[[], None]:
    """Create the flow run RUNNING, post one Completed event per task, set it COMPLETED."""
    flow_id = _floor_post(client, "/flows/", {"name": FLOW_NAME}).json()["id"]

    def call() -> None:
        body = {
            "flow_id": flow_id,
            "name": run_name or f"floor-{uuid.uuid4().hex[:8]}",
            "state": {"type": "RUNNING", "name": "Running"},
        }
        run_id = _floor_post(client, "/flow_runs/", body).json()["id"]
        start = time.perf_counter()
        events = [_completed_event(run_id, i) for i in range(tasks)]
        for first in range(0, len(events), EVENT_BATCH):
            _floor_post(client, "/events", events[first : first + EVENT_BATCH])
        _loops.append(time.perf_counter() - start)
        final = {"state": {"type": "COMPLETED", "name": "Completed"}}
        _floor_post(client, f"/flow_runs/{run_id}/set_state", final)

    return call


def _completed_event(flow_run_id: str, index: int) -> dict[str, Any]:
    now = _now()
    task_run_id = str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()),
        "occurred": now,
        "event": "prefect.task-run.Completed",
        "resource": {
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": f"noop-{index}",
            "prefect.state-type": "COMPLETED",
            "prefect.state-name": "Completed",
            "prefect.orchestration": "client",
        },
        "related": [
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        ],
        "payload": {
            "intended": {"from": None, "to": "COMPLETED"},
            "initial_state": None,
            "validated_state": {
                "type": "COMPLETED",
                "name": "Completed",
                "message": "",
                "timestamp": now,
            },
            "task_run": {
                "name": f"noop-{index}",
                "task_key": "noop",
                "dynamic_key": str(index),
                "run_count": 1,
                "task_inputs": {},
                "tags": [],
                "empirical_policy": {"retries": 0, "retry_delay": 0},
                "expected_start_time": now,
                "start_time": now,
                "end_time": now,
            },
        },
    }


def _make(side: str, run_name: str | None, tasks: int, client: httpx.Client) -> Callable[[], None]:
    if side == "skiff":
        return _skiff_flow(run_name, tasks)
    if side == "prefect":
        return _prefect_flow(run_name, tasks)
    return _floor_flow(client, run_name, tasks)


def _timed(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["zero", "tasks"])
    parser.add_argument("--side", required=True, choices=["skiff", "prefect", "floor"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=0)
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    _count_requests()
    result: dict[str, Any]
    with httpx.Client() as client:
        if args.mode == "zero":
            call = _make(args.side, None, 0, client)
            call()  # warm-up: connections, flow registration, lazy imports
            times, requests = [], []
            for _ in range(args.runs):
                before = len(_requests)
                times.append(_timed(call))
                requests.append(len(_requests) - before)
            result = {"seconds": times, "requests": requests}
        else:
            _make(args.side, f"{args.run_name}-warmup", 3, client)()
            main_flow = _make(args.side, args.run_name, args.tasks, client)
            started = time.time()
            seconds = _timed(main_flow)
            result = {"started_epoch": started, "seconds": seconds, "loop_seconds": _loops[-1]}
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
