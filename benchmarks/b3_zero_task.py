"""3. Zero-task flow, warm, end to end including skiff's flush, and its HTTP request count.

Each round is one process per side: a warm-up flow, then three timed flows. Floor: as many
bare httpx requests (GET /health, on a warm connection) as skiff's flow sent, or prefect's
while skiff's runtime is not there yet.
"""

from __future__ import annotations

import statistics

from benchmarks._common import Context, Metric, run_driver

TITLE = "Zero-task flow (warm)"
RUNS_PER_ROUND = 3


def run(ctx: Context) -> list[Metric]:
    floor_label = "same number of bare httpx requests"
    wall = Metric("zero-task flow: wall, warm", "ms", floor_label)
    requests = Metric("zero-task flow: HTTP requests", "requests", floor_label)
    sides = ["prefect", "floor"]
    if ctx.skiff_runtime_missing:
        for metric in (wall, requests):
            metric.missing["skiff"] = ctx.skiff_runtime_missing
    else:
        sides.insert(0, "skiff")
    env = ctx.env()
    counts: dict[str, list[float]] = {"skiff": [], "prefect": []}

    def step(side: str) -> None:
        args = ["zero", "--side", side, "--runs", str(RUNS_PER_ROUND)]
        if side == "floor":
            reference = counts["skiff"] or counts["prefect"]
            args += ["--requests", str(round(statistics.median(reference)))]
        result = run_driver(ctx.python(side), "flows", args, env, ctx.scratch)
        for seconds, count in zip(result["seconds"], result["requests"], strict=True):
            wall.add(side, seconds * 1000)
            requests.add(side, count)
            if side != "floor":
                counts[side].append(count)

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in sides})
    ctx.facts["zero_task_requests"] = statistics.median(requests.samples["floor"])
    return [wall, requests]
