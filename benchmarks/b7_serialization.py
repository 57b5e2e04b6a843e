"""7. Serialization: decoding and encoding a real 200-run ``POST /flow_runs/filter`` response.

Reuses ``bench_decode.py``: its ``build_body`` creates 200 flow runs on this run's server and
keeps the raw filter response, and its ``time_skiff`` times skiff's decoding as every typed
client method does it (the cached ``Decoder(list[FlowRunResponse])``). skiff's encode is
``msgspec.json.encode`` of the decoded runs. prefect-client's side runs in its environment
(``drivers/serialization.py``, pydantic ``TypeAdapter``). Floor: msgspec to and from plain
dicts, no model. skiff and the floor run in this process, prefect in a fresh one per round.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec

from benchmarks import bench_decode
from benchmarks._common import Context, Metric, progress, run_driver

TITLE = "Serialization"
ITERATIONS = 30


def _median_ms(call: Callable[[], Any]) -> float:
    call()  # warm-up
    times = []
    for _ in range(ITERATIONS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run(ctx: Context) -> list[Metric]:
    count = bench_decode.RUNS_IN_BODY
    floor_label = "msgspec, untyped"
    decode = Metric(f"decode {count} flow runs", "ms", floor_label)
    encode = Metric(f"encode {count} flow runs", "ms", floor_label)
    progress(f"{TITLE}: creating {count} flow runs for the payload")
    body = bench_decode.build_body(ctx.api_url)
    payload = ctx.scratch / "flow_runs_filter.json"
    payload.write_bytes(body)
    runs = msgspec.json.Decoder(list[bench_decode.models.FlowRunResponse]).decode(body)
    plain = msgspec.json.decode(body)

    def skiff(_: int) -> None:
        decode.add("skiff", statistics.median(bench_decode.time_skiff(body, ITERATIONS)) * 1000)
        encode.add("skiff", _median_ms(lambda: msgspec.json.encode(runs)))

    def prefect(_: int) -> None:
        args = ["--payload", str(payload), "--count", str(count), "--iterations", str(ITERATIONS)]
        result = run_driver(ctx.prefect_python, "serialization", args, ctx.env(), ctx.scratch)
        decode.add("prefect", result["decode"] * 1000)
        encode.add("prefect", result["encode"] * 1000)

    def floor(_: int) -> None:
        decode.add("floor", _median_ms(lambda: msgspec.json.decode(body)))
        encode.add("floor", _median_ms(lambda: msgspec.json.encode(plain)))

    ctx.alternate(TITLE, {"skiff": skiff, "prefect": prefect, "floor": floor})
    return [decode, encode]
