"""prefect-client's side of b7: decode and encode a saved ``POST /flow_runs/filter`` response.

    python serialization.py --payload FILE --count N --iterations K --out FILE

Runs in prefect-client's environment. Decodes with ``TypeAdapter(list[FlowRun]).validate_json``
(pydantic's fastest path, the one ``bench_decode.py`` times too) and encodes with the same
adapter's ``dump_json``. Writes the median seconds per decode and per encode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from prefect.client.schemas.objects import FlowRun
from pydantic import TypeAdapter


def _median_seconds(call: Callable[[], Any], iterations: int) -> float:
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payload", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.payload, "rb") as f:
        raw = f.read()
    adapter = TypeAdapter(list[FlowRun])
    runs = adapter.validate_json(raw)
    if len(runs) != args.count:
        raise SystemExit(f"decoded {len(runs)} flow runs, expected {args.count}")
    adapter.dump_json(runs)  # warm-up: serializers are built lazily
    result = {
        "decode": _median_seconds(lambda: adapter.validate_json(raw), args.iterations),
        "encode": _median_seconds(lambda: adapter.dump_json(runs), args.iterations),
    }
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
