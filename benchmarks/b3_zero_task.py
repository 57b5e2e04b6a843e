"""3. Zero-task flow, warm, end to end including skiff's flush, and its HTTP request count.

Each round is one process per side: a warm-up flow, then three timed flows. Floor: the two
writes any correct flow run needs (create it RUNNING, set it COMPLETED) with bare httpx on a
warm connection. On SQLite each write costs the server 10-15 ms, so no client can go lower.
"""

from __future__ import annotations

from benchmarks._common import Context, Metric, run_driver

TITLE = "Zero-task flow (warm)"
RUNS_PER_ROUND = 3


def run(ctx: Context) -> list[Metric]:
    floor_label = "bare httpx: create RUNNING + set COMPLETED"
    wall = Metric("zero-task flow: wall, warm", "ms", floor_label)
    requests = Metric("zero-task flow: HTTP requests", "requests", floor_label)
    sides = ["prefect", "floor"]
    if ctx.skiff_runtime_missing:
        for metric in (wall, requests):
            metric.missing["skiff"] = ctx.skiff_runtime_missing
    else:
        sides.insert(0, "skiff")
    env = ctx.env()

    def step(side: str) -> None:
        args = ["zero", "--side", side, "--runs", str(RUNS_PER_ROUND)]
        result = run_driver(ctx.python(side), "flows", args, env, ctx.scratch)
        for seconds, count in zip(result["seconds"], result["requests"], strict=True):
            wall.add(side, seconds * 1000)
            requests.add(side, count)

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in sides})
    return [wall, requests]
