#!/usr/bin/env python3
"""Decode one real ``POST /flow_runs/filter`` answer (200 runs): skiff's msgspec models vs
prefect-client's pydantic ``FlowRun``.

    .venv/bin/python benchmarks/bench_decode.py [--runs N] [--api-url URL]

It starts a real Prefect server (or uses ``--api-url``/``SKIFF_TEST_API_URL``), creates 200
flow runs with parameters, tags and a state, takes the raw response bytes of one filter call,
and decodes those same bytes in both SDKs N times: skiff through ``skiff.client._base.decode``
(the cached ``msgspec.json.Decoder(list[FlowRunResponse])`` every typed method uses), prefect
through ``TypeAdapter(list[FlowRun]).validate_json`` in the server environment's Python, as a
subprocess. It prints the medians side by side and the ratio. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402
from skiff.client import Client  # noqa: E402
from skiff.client._base import decode  # noqa: E402
from skiff.client._generated import models  # noqa: E402

RUNS_IN_BODY = 200

PREFECT_SIDE = r"""
import json, statistics, sys, time
from pydantic import TypeAdapter
from prefect.client.schemas.objects import FlowRun
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
adapter = TypeAdapter(list[FlowRun])
assert len(adapter.validate_json(data)) == int(sys.argv[3])
samples = []
for _ in range(n):
    t = time.perf_counter()
    adapter.validate_json(data)
    samples.append(time.perf_counter() - t)
print(json.dumps(samples))
"""


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[bench_decode] {message}", file=sys.stderr, flush=True)


def build_body(api_url: str) -> bytes:
    """The raw bytes of a real filter response holding RUNS_IN_BODY flow runs."""
    with Client(api_url) as client:
        flow = client.flows.create(name=f"bench-decode-{os.getpid()}-{time.time_ns()}")
        log(f"creating {RUNS_IN_BODY} flow runs")
        for i in range(RUNS_IN_BODY):
            client.flow_runs.create(
                flow_id=flow.id,
                name=f"bench-{i}",
                parameters={"i": i, "items": list(range(5)), "label": f"run {i}"},
                tags=["bench", f"batch-{i % 10}"],
                state=models.StateCreate(type="SCHEDULED" if i % 2 else "COMPLETED"),
            )
        response = client.request(
            "POST",
            "/flow_runs/filter",
            json={"flows": {"id": {"any_": [str(flow.id)]}}, "limit": RUNS_IN_BODY},
        )
    return response.content


def time_skiff(body: bytes, runs: int) -> list[float]:
    request = httpx.Request("POST", "http://bench/api/flow_runs/filter")
    response = httpx.Response(200, content=body, request=request)
    tp = list[models.FlowRunResponse]
    assert len(decode(response, tp)) == RUNS_IN_BODY  # also builds the cached decoder
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        decode(response, tp)
        samples.append(time.perf_counter() - start)
    return samples


def time_prefect(body: bytes, runs: int) -> list[float]:
    python = prefect_server.ensure_env()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(body)
    try:
        out = subprocess.run(
            [str(python), "-c", PREFECT_SIDE, f.name, str(runs), str(RUNS_IN_BODY)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(f.name)
    return list(json.loads(out.stdout))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed decodes per side")
    parser.add_argument("--api-url", default=os.environ.get("SKIFF_TEST_API_URL"))
    args = parser.parse_args(argv)

    handle = None
    api_url = args.api_url
    if not api_url:
        log("starting a Prefect server")
        handle = prefect_server.start()
        api_url = handle.api_url
    try:
        body = build_body(api_url)
    finally:
        if handle is not None:
            handle.stop()
    log(f"response body: {len(body) / 1024:.0f} KiB; timing {args.runs} decodes per side")
    skiff = statistics.median(time_skiff(body, args.runs)) * 1e3
    log("running the prefect side in the server environment")
    prefect = statistics.median(time_prefect(body, args.runs)) * 1e3
    print(f"decode {RUNS_IN_BODY} flow runs ({len(body) / 1024:.0f} KiB), median of {args.runs}")
    print(f"  skiff   (msgspec Structs)        {skiff:8.3f} ms")
    print(f"  prefect (pydantic FlowRun)       {prefect:8.3f} ms")
    print(f"  ratio   prefect / skiff          {prefect / skiff:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
