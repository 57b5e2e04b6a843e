"""5. Whole process, cold: ``python -c`` importing the SDK and running one empty flow.

Timed from spawn to exit. skiff's snippet ends with ``flush()`` so its reports are on the server
before the process ends (prefect's own exit handling does that for prefect). Floor: a process
that imports httpx and msgspec and sends as many bare requests as skiff's warm zero-task flow.
"""

from __future__ import annotations

from benchmarks._common import Context, Metric, timed_process

TITLE = "Whole process"

SNIPPETS = {
    "skiff": ("from skiff import flow, flush\n@flow\ndef empty():\n    pass\nempty()\nflush()\n"),
    "prefect": "from prefect import flow\n@flow\ndef empty():\n    pass\nempty()\n",
    "floor": (
        "import os, httpx, msgspec\n"
        "with httpx.Client() as c:\n"
        "    for _ in range({n}):\n"
        "        c.get(os.environ['PREFECT_API_URL'] + '/health').raise_for_status()\n"
    ),
}


def run(ctx: Context) -> list[Metric]:
    requests = round(ctx.facts.get("zero_task_requests", 3))
    metric = Metric(
        "python -c: one empty flow, cold", "s", f"import httpx, msgspec + {requests} requests"
    )
    snippets = dict(SNIPPETS, floor=SNIPPETS["floor"].format(n=requests))
    if ctx.skiff_runtime_missing:
        metric.missing["skiff"] = ctx.skiff_runtime_missing
        del snippets["skiff"]
    env = ctx.env()

    def step(side: str) -> None:
        metric.add(side, timed_process(ctx.python(side), snippets[side], env, ctx.scratch))

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in snippets})
    return [metric]
