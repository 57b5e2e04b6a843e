"""7. Serialization: decoding and encoding a 200-run ``POST /flow_runs/filter`` response.

The payload is real: 200 flow runs created on this run's server (with states, tags and
parameters), read back with one filter request. skiff's msgspec models against prefect's pydantic
models; floor: msgspec to and from plain dicts. Each round is one process per side.
"""

from __future__ import annotations

import httpx

from benchmarks._common import Context, Metric, api_post, probe, progress, run_driver

TITLE = "Serialization"
RUNS = 200
ITERATIONS = 30


def _payload(ctx: Context) -> bytes:
    """Create RUNS flow runs and return the server's raw filter response for them."""
    with httpx.Client(base_url=ctx.api_url, timeout=30) as client:
        flow = api_post(client, "/flows/", {"name": "skiff-bench-serialization"})
        flow_id = flow.json()["id"]
        for index in range(RUNS):
            body = {
                "flow_id": flow_id,
                "name": f"serialization-{index}",
                "parameters": {"index": index, "source": "s3://bucket/key.csv", "dry_run": False},
                "tags": ["bench", "serialization"],
                "state": {"type": "COMPLETED", "name": "Completed", "message": "done"},
            }
            api_post(client, "/flow_runs/", body)
        body = {"flows": {"id": {"any_": [flow_id]}}, "limit": RUNS}
        reply = api_post(client, "/flow_runs/filter", body)
    return reply.content


def run(ctx: Context) -> list[Metric]:
    floor_label = "msgspec, untyped"
    decode = Metric(f"decode {RUNS} flow runs", "ms", floor_label)
    encode = Metric(f"encode {RUNS} flow runs", "ms", floor_label)
    sides = ["skiff", "prefect", "floor"]
    missing = probe(ctx.skiff_python, "from skiff.client._generated.models import FlowRun")
    if missing:
        for metric in (decode, encode):
            metric.missing["skiff"] = missing
        sides.remove("skiff")
    progress(f"{TITLE}: creating {RUNS} flow runs for the payload")
    payload = ctx.scratch / "flow_runs_filter.json"
    payload.write_bytes(_payload(ctx))
    env = ctx.env()

    def step(side: str) -> None:
        args = ["--side", side, "--payload", str(payload), "--iterations", str(ITERATIONS)]
        result = run_driver(ctx.python(side), "serialization", args, env, ctx.scratch)
        if result["count"] != RUNS:
            raise RuntimeError(f"{side} decoded {result['count']} runs, expected {RUNS}")
        decode.add(side, result["decode"] * 1000)
        encode.add(side, result["encode"] * 1000)

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in sides})
    return [decode, encode]
