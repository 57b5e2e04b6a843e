"""1. Cold import: ``import skiff`` plus the Lambda adapter against ``from prefect import flow, task``.

Floor: ``import httpx, msgspec``, the two libraries any such SDK needs. Each sample is a fresh
interpreter (see ``bench_import.measure``); the import statement alone is timed.
"""

from __future__ import annotations

from benchmarks._common import Context, Metric
from benchmarks.bench_import import measure

TITLE = "Cold import"

STATEMENTS = {
    "skiff": "import skiff\nimport skiff.adapters.aws_lambda",
    "prefect": "from prefect import flow, task",
    "floor": "import httpx, msgspec",
}
# What a Lambda module really pays before its first invocation: the handler is decorated,
# which loads skiff's runtime (and httpx) or prefect's flow machinery.
DECORATED = {
    "skiff": (
        "from skiff.adapters.aws_lambda import lambda_flow\n"
        "@lambda_flow\ndef handler(event, context):\n    return event\n"
    ),
    "prefect": "from prefect import flow, task\n@flow\ndef handler(event):\n    return event\n",
    "floor": "import httpx, msgspec",
}


def run(ctx: Context) -> list[Metric]:
    floor = "import httpx, msgspec"
    wall = Metric("import: wall time", "ms", floor)
    rss = Metric("import: peak RSS", "MB", floor, note="whole process, interpreter included")
    modules = Metric("import: modules loaded", "modules", floor)
    decorated_wall = Metric("import + decorate a handler: wall time", "ms", floor)
    decorated_rss = Metric("import + decorate a handler: peak RSS", "MB", floor)
    env = ctx.env()
    for table in (STATEMENTS, DECORATED):  # warm-up: compile .pyc files outside the timings
        for side, stmt in table.items():
            measure(ctx.python(side), stmt, ctx.scratch, env)

    def step(side: str) -> None:
        seconds, mb, count = measure(ctx.python(side), STATEMENTS[side], ctx.scratch, env)
        wall.add(side, seconds * 1000)
        rss.add(side, mb)
        modules.add(side, count)
        seconds, mb, _ = measure(ctx.python(side), DECORATED[side], ctx.scratch, env)
        decorated_wall.add(side, seconds * 1000)
        decorated_rss.add(side, mb)

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in STATEMENTS})
    return [wall, rss, modules, decorated_wall, decorated_rss]
