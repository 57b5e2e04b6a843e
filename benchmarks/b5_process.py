"""5. Whole process, cold: ``python -c`` importing the SDK and running one empty flow.

Timed from spawn to exit. skiff's snippet ends with ``flush()`` so its reports are on the server
before the process ends (prefect's own exit handling does that for prefect). Floor: a process
that imports httpx and msgspec and makes the three writes a cold flow run needs with bare httpx
(register the flow, create the run RUNNING, set it COMPLETED).
"""

from __future__ import annotations

from benchmarks._common import Context, Metric, timed_process

TITLE = "Whole process"

SNIPPETS = {
    "skiff": ("from skiff import flow, flush\n@flow\ndef empty():\n    pass\nempty()\nflush()\n"),
    "prefect": "from prefect import flow\n@flow\ndef empty():\n    pass\nempty()\n",
    "floor": (
        "import os, httpx, msgspec\n"
        "with httpx.Client(base_url=os.environ['PREFECT_API_URL'] + '/') as c:\n"
        "    flow = c.post('flows/', json={'name': 'floor-process'}).json()\n"
        "    state = {'type': 'RUNNING', 'name': 'Running'}\n"
        "    run = c.post('flow_runs/', json={'flow_id': flow['id'], 'state': state}).json()\n"
        "    done = {'state': {'type': 'COMPLETED', 'name': 'Completed'}}\n"
        "    c.post(f\"flow_runs/{run['id']}/set_state\", json=done).raise_for_status()\n"
    ),
}


def run(ctx: Context) -> list[Metric]:
    metric = Metric(
        "python -c: one empty flow, cold", "s", "import httpx, msgspec + the 3 writes, bare httpx"
    )
    snippets = dict(SNIPPETS)
    if ctx.skiff_runtime_missing:
        metric.missing["skiff"] = ctx.skiff_runtime_missing
        del snippets["skiff"]
    env = ctx.env()

    def step(side: str) -> None:
        metric.add(side, timed_process(ctx.python(side), snippets[side], env, ctx.scratch))

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in snippets})
    return [metric]
