"""8. Runtime v2 targets: per-task overhead, a warm zero-task flow until its final state is on
the server, and the time until 1000 task runs are COMPLETED there, with Prefect-identical
records (3 events per task) and lean ones (``SKIFF_LEAN_TASK_EVENTS=true``, 1 event per task).

The measurements of ``bench_runtime_v2.py`` (see its docstring), in the suite's format: the
"skiff" side of a "(lean)" metric is skiff in lean mode, and its floor the 1-event floor.
Each round makes the server record about 8,400 events, so the suite runs at most
``MAX_ROUNDS`` rounds of it.
"""

from __future__ import annotations

from benchmarks import bench_runtime_v2 as v2
from benchmarks._common import Context, Metric, Unavailable

TITLE = "Runtime v2 targets"
SIZES = [200, 1000]
ZERO_RUNS = 7
MAX_ROUNDS = 2


def run(ctx: Context) -> list[Metric]:
    if ctx.skiff_runtime_missing:
        raise Unavailable(ctx.skiff_runtime_missing)
    if ctx.server_pid is None:
        raise Unavailable("the suite did not say which process is the server")
    results = v2.measure(
        {side: ctx.python(side) for side in v2.SIDES},
        lambda side: ctx.env(**v2.lean_env(side)),
        rounds=min(ctx.rounds, MAX_ROUNDS),
        sizes=SIZES,
        zero_runs=ZERO_RUNS,
        pgid=ctx.server_pid,
        scratch=ctx.scratch,
    )
    summary = v2.summarize(results, SIZES)

    def metric(name: str, unit: str, key: str, floor_label: str, lean: bool = False) -> Metric:
        found = Metric(f"{name} (lean)" if lean else name, unit, floor_label)
        sources = {"skiff": "lean" if lean else "skiff", "prefect": "prefect"}
        sources["floor"] = "floor-lean" if lean else "floor"
        for side, source in sources.items():
            for value in summary[source]["samples"].get(key, []):
                found.add(side, value)
        return found

    build = "building and encoding the task's events"
    metrics = []
    for n in SIZES:
        for lean in (False, True):
            metrics.append(
                metric(f"{n} tasks: (flow(N) - flow(0)) / N", "us", f"per_task_us_{n}", build, lean)
            )
        metrics.append(
            metric(f"{n} tasks: the same, caller's HTTP waits excluded", "us", f"own_us_{n}", build)
        )
    requests = "create PENDING, Running, Completed, one POST /logs/"
    metrics.append(
        metric("zero-task flow until final state on server", "ms", "zero_e2e_ms", requests)
    )
    metrics.append(metric("zero-task flow: HTTP requests", "requests", "zero_requests", requests))
    for lean in (False, True):
        metrics.append(
            metric(
                f"{SIZES[-1]} tasks: until all COMPLETED on server",
                "s",
                f"visible_s_{SIZES[-1]}",
                "the same events posted directly",
                lean,
            )
        )
    return metrics
