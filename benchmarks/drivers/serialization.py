"""Decodes and encodes a saved ``POST /flow_runs/filter`` response; used by b7.

    python serialization.py --side skiff|prefect|floor --payload FILE --iterations N --out FILE

skiff: ``msgspec.json.Decoder(list[FlowRun])`` with the generated msgspec models, and
``msgspec.json.encode``. prefect: what prefect-client 3.9.0 does with a response,
``FlowRun.model_validate_list(response.json())``, and with a request body,
``model_dump(mode="json")`` then ``json.dumps``. Floor: msgspec to and from plain dicts, with no
model at all. Writes the median seconds per decode and per encode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any


def _codecs(side: str) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    if side == "skiff":
        import msgspec

        from skiff.client._generated.models import FlowRun

        decoder = msgspec.json.Decoder(list[FlowRun])
        return decoder.decode, msgspec.json.encode
    if side == "prefect":
        from prefect.client.schemas.objects import FlowRun as PrefectFlowRun

        def decode(raw: bytes) -> Any:
            return PrefectFlowRun.model_validate_list(json.loads(raw))

        def encode(runs: Any) -> bytes:
            return json.dumps([run.model_dump(mode="json") for run in runs]).encode()

        return decode, encode
    import msgspec

    return msgspec.json.decode, msgspec.json.encode


def _median_seconds(call: Callable[[], Any], iterations: int) -> float:
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", required=True, choices=["skiff", "prefect", "floor"])
    parser.add_argument("--payload", required=True)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.payload, "rb") as f:
        raw = f.read()
    decode, encode = _codecs(args.side)
    runs = decode(raw)
    encode(runs)  # warm-up: validators and encoders are built lazily on first use
    result = {
        "count": len(runs),
        "decode": _median_seconds(lambda: decode(raw), args.iterations),
        "encode": _median_seconds(lambda: encode(runs), args.iterations),
    }
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
