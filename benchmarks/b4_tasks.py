"""4. Flows of 200 and 1000 empty tasks: per-task overhead, and time until the server shows
every task run COMPLETED.

Each sample is one process per side (see ``drivers/flows.py tasks``). Per-task overhead is the
time the flow body spends in its loop of N task calls, divided by N: timed inside the flow, so
prefect's variable flow teardown (a heartbeat thread join of up to 1 s) stays out of it. The
flow's wall time, skiff's flush included, is the second metric. While the driver runs, this
process polls ``POST /task_runs/count`` for the run's COMPLETED task runs; visibility is the
time from the flow's start until the count reaches N. Floor: a bare httpx client posting one
``prefect.task-run.Completed`` event per task in batches, so the visibility floor is the
server's own event recorder.
"""

from __future__ import annotations

import time
import uuid

import httpx

from benchmarks._common import Context, Metric, api_post, progress, start_driver

TITLE = "Flows with many tasks"
SIZES = (200, 1000)
POLL_INTERVAL = 0.1
VISIBILITY_TIMEOUT = 180.0


def _completed(client: httpx.Client, run_name: str) -> int:
    body = {
        "flow_runs": {"name": {"any_": [run_name]}},
        "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
    }
    count: int = api_post(client, "/task_runs/count", body).json()
    return count


def _sample(
    ctx: Context, side: str, tasks: int, client: httpx.Client
) -> tuple[float, float, float]:
    """(per-task overhead s, flow wall s, visibility s) for one run of ``tasks`` tasks."""
    run_name = f"bench-{side}-{tasks}-{uuid.uuid4().hex[:8]}"
    args = ["tasks", "--side", side, "--tasks", str(tasks), "--run-name", run_name]
    driver = start_driver(ctx.python(side), "flows", args, ctx.env(), ctx.scratch)
    deadline = time.monotonic() + VISIBILITY_TIMEOUT
    while _completed(client, run_name) < tasks:
        if driver.proc.poll() not in (None, 0):
            driver.finish(0)  # raises with the driver's output
        if time.monotonic() > deadline:
            driver.proc.kill()
            raise RuntimeError(
                f"{side}: {tasks} task runs not all COMPLETED after {VISIBILITY_TIMEOUT:.0f} s"
            )
        time.sleep(POLL_INTERVAL)
    seen_at = time.time()
    result = driver.finish(VISIBILITY_TIMEOUT)
    return result["loop_seconds"] / tasks, result["seconds"], seen_at - result["started_epoch"]


def run(ctx: Context) -> list[Metric]:
    floor_label = "bare httpx: one event per task"
    metrics = []
    sides = ["prefect", "floor"] if ctx.skiff_runtime_missing else ["skiff", "prefect", "floor"]
    with httpx.Client(base_url=ctx.api_url, timeout=30) as client:
        for tasks in SIZES:
            overhead = Metric(
                f"{tasks} tasks: per-task overhead",
                "ms",
                "bare httpx: build and send one event per task, in the caller's thread",
                note="timed inside the flow body: the loop of task calls / N",
            )
            wall = Metric(f"{tasks} tasks: flow wall time", "s", floor_label)
            visible = Metric(f"{tasks} tasks: until all COMPLETED on server", "s", floor_label)
            group = (overhead, wall, visible)
            if ctx.skiff_runtime_missing:
                for metric in group:
                    metric.missing["skiff"] = ctx.skiff_runtime_missing

            def step(side: str, tasks: int = tasks, group: tuple[Metric, ...] = group) -> None:
                per_task, seconds, lag = _sample(ctx, side, tasks, client)
                group[0].add(side, per_task * 1000)
                group[1].add(side, seconds)
                group[2].add(side, lag)
                progress(f"  {side}: {per_task * 1000:.2f} ms/task, visible after {lag:.1f} s")

            ctx.alternate(
                f"{TITLE} ({tasks})", {side: lambda _, s=side, f=step: f(s) for side in sides}
            )
            metrics += group
    return metrics
