"""Subscription latency, emit -> received: skiff's ``events.subscribe`` beside prefect-client's
``get_events_subscriber``, against the same server in the same run.

    .venv/bin/python benchmarks/bench_subscribe.py [--events 200] [--api-url URL]

Each side runs in its own interpreter (skiff in ``.venv``, prefect-client 3.9.0 in
``.cache/prefect-client-3.9.0``): it subscribes with a filter on a resource id of its own,
then a skiff client in this process emits N events one by one, each stamped with the
``time.time()`` of its send in the payload; the subscriber records ``time.time()`` on
receipt. Latency is receive minus send (same machine, same clock). The sides alternate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.run import PREFECT_CLIENT_ENV, _prefect_client_packages
from scripts import prefect_server
from skiff import Client

SUBSCRIBER = {
    "skiff": """
import json, sys, time
from skiff import Client
url, rid, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lat = []
with Client(url) as c, c.events.subscribe(filter={"resource": {"id": [rid]}}) as events:
    print("ready", flush=True)
    for e in events:
        if e.event == "bench.tick":
            lat.append(time.time() - e.payload["sent"])
            if len(lat) == n:
                break
json.dump(lat, open(out, "w"))
""",
    "prefect": """
import asyncio, json, sys, time
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventResourceFilter
url, rid, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
async def main():
    lat = []
    flt = EventFilter(resource=EventResourceFilter(id=[rid]))
    async with get_events_subscriber(filter=flt) as sub:
        print("ready", flush=True)
        async for e in sub:
            if e.event == "bench.tick":
                lat.append(time.time() - e.payload["sent"])
                if len(lat) == n:
                    break
    json.dump(lat, open(out, "w"))
asyncio.run(main())
""",
}


def measure(side: str, python: str, api_url: str, n: int, scratch: Path) -> list[float]:
    """Run one side's subscriber, emit ``n`` events to it, return its latencies (seconds)."""
    rid = f"bench.subscribe.{uuid.uuid4().hex}"
    out = scratch / f"{side}-{rid}.json"
    env = {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(scratch / "home"), "PATH": "/usr/bin"}
    proc = subprocess.Popen(
        [python, "-c", SUBSCRIBER[side], api_url, rid, str(n), str(out)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=scratch,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{side} subscriber did not start (exit {proc.wait()})")
    time.sleep(1.0)  # the server subscribes after reading the filter; no ack is sent
    with Client(api_url) as client:
        for _ in range(n):
            client.events.emit_event(
                "bench.tick", {"prefect.resource.id": rid}, payload={"sent": time.time()}
            )
            time.sleep(0.02)
    if proc.wait(timeout=120) != 0:
        raise RuntimeError(f"{side} subscriber failed")
    latencies: list[float] = json.loads(out.read_text())
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events per side per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--api-url", default=None, help="a running server (default: start one)")
    args = parser.parse_args()
    prefect_python = str(prefect_server.ensure_env(PREFECT_CLIENT_ENV, _prefect_client_packages()))
    handle = None if args.api_url else prefect_server.start()
    api_url = args.api_url or (handle.api_url if handle else "")
    samples: dict[str, list[float]] = {"skiff": [], "prefect": []}
    try:
        with tempfile.TemporaryDirectory(prefix="skiff-bench-sub-") as tmp:
            for _ in range(args.rounds):
                for side, python in (("skiff", sys.executable), ("prefect", prefect_python)):
                    samples[side] += measure(side, python, api_url, args.events, Path(tmp))
    finally:
        if handle:
            handle.stop()
    medians = {side: statistics.median(v) * 1000 for side, v in samples.items()}
    for side, values in samples.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[int(len(ms) * 0.95) - 1]
        print(
            f"{side:8s} n={len(ms):4d}  median {medians[side]:6.2f} ms  "
            f"p95 {p95:6.2f} ms  min {ms[0]:6.2f} ms  max {ms[-1]:7.2f} ms"
        )
    print(f"ratio skiff/prefect (median): {medians['skiff'] / medians['prefect']:.2f}")


if __name__ == "__main__":
    main()
