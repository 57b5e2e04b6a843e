"""200 concurrent flow-run creates on a busy SQLite server: skiff's AsyncClient vs prefect-client.

    .venv/bin/python benchmarks/bench_busy_creates.py [--creates 200] [--rounds 1]

On SQLite, concurrent writes make the server answer 503 ("database is locked"); a client
survives only if its retries outlast the contention. Every round starts a fresh
SQLite-backed Prefect 3.9.1 server for each side (so both meet the same empty database), in
alternating order, and fires ``--creates`` concurrent ``POST /flow_runs/`` at it:

* **skiff**: ``AsyncClient.flow_runs.create(flow_id=...)`` under skiff's interpreter;
* **prefect-client**: ``get_client().request("POST", "/flow_runs/", json=...)`` under the
  server's interpreter (prefect 3.9.1 ships the client), the same request on the wire through
  prefect-client's own transport and retry policy.

It prints each side's successes, failures (by kind) and wall time, and the ratio of
successes. Progress goes to stderr; the table to stdout.

The same file is the driver each side runs (``--driver skiff|prefect``): that part imports only
the standard library and the side's own packages, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def _fire_skiff(api_url: str, flow_id: str, creates: int) -> list[BaseException | None]:
    from skiff.client import AsyncClient

    async with AsyncClient(api_url) as client:

        async def one() -> None:
            await client.flow_runs.create(flow_id=uuid.UUID(flow_id))

        results = await asyncio.gather(*(one() for _ in range(creates)), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


async def _fire_prefect(api_url: str, flow_id: str, creates: int) -> list[BaseException | None]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:

        async def one() -> None:
            body = {"flow_id": flow_id, "idempotency_key": uuid.uuid4().hex}
            response = await client.request("POST", "/flow_runs/", json=body)
            response.raise_for_status()

        results = await asyncio.gather(*(one() for _ in range(creates)), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


def _kind(error: BaseException) -> str:
    status = getattr(getattr(error, "response", None), "status_code", None)
    return f"{type(error).__name__}({status})" if status else type(error).__name__


def driver(side: str, api_url: str, flow_id: str, creates: int) -> dict[str, Any]:
    """Fire ``creates`` concurrent creates with one side's client; successes, failures, time."""
    fire = _fire_skiff if side == "skiff" else _fire_prefect
    started = time.perf_counter()
    results = asyncio.run(fire(api_url, flow_id, creates))
    wall = time.perf_counter() - started
    errors = [r for r in results if r is not None]
    return {
        "ok": len(results) - len(errors),
        "failed": dict(Counter(_kind(e) for e in errors)),
        "wall": wall,
    }


def _round(side: str, creates: int) -> dict[str, Any]:
    import httpx

    from benchmarks._common import progress
    from benchmarks.bench_import import clean_env
    from scripts import prefect_server

    # A loaded machine can take well over the default 90 s to bring a fresh server up.
    server = prefect_server.start(timeout=300)
    try:
        flow = httpx.post(f"{server.api_url}/flows/", json={"name": "busy-creates"}, timeout=30)
        flow_id = flow.raise_for_status().json()["id"]
        python = sys.executable if side == "skiff" else str(prefect_server.ensure_env())
        env = {k: v for k, v in clean_env().items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=server.api_url,
            PREFECT_HOME=server.home,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="ERROR",
            PYTHONPATH=str(ROOT),
        )
        progress(f"{side}: {creates} concurrent creates on {server.api_url}")
        args = ["--driver", side, "--api", server.api_url, "--flow-id", flow_id]
        out = subprocess.run(
            [python, __file__, *args, "--creates", str(creates)],
            env=env,
            cwd=server.home,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{side} driver failed ({out.returncode}):\n{out.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        progress(f"{side}: {result}")
        return result
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with ``--driver``, one side of it) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--driver", choices=["skiff", "prefect"])
    parser.add_argument("--api")
    parser.add_argument("--flow-id")
    args = parser.parse_args(argv)
    if args.driver:
        print(json.dumps(driver(args.driver, args.api, args.flow_id, args.creates)))
        return 0

    sys.path.insert(0, str(ROOT))
    rows: dict[str, list[dict[str, Any]]] = {"skiff": [], "prefect": []}
    for rnd in range(args.rounds):
        # Alternate who goes first, so drift in machine load hits both sides alike.
        order = ["skiff", "prefect"] if rnd % 2 == 0 else ["prefect", "skiff"]
        for side in order:
            rows[side].append(_round(side, args.creates))

    n = args.creates
    print(f"{n} concurrent POST /flow_runs/ on a fresh SQLite Prefect 3.9.1 server, per round")
    print(f"{'round':>5}  {'side':<15}{'ok':>9}  {'wall s':>7}  failures")
    for rnd in range(args.rounds):
        for side, label in (("skiff", "skiff"), ("prefect", "prefect-client")):
            r = rows[side][rnd]
            failed = ", ".join(f"{k}: {v}" for k, v in sorted(r["failed"].items())) or "-"
            print(f"{rnd + 1:>5}  {label:<15}{r['ok']:>5}/{n:<3}  {r['wall']:>7.1f}  {failed}")
    skiff_ok = sum(r["ok"] for r in rows["skiff"])
    prefect_ok = sum(r["ok"] for r in rows["prefect"])
    ratio = f"{skiff_ok / prefect_ok:.2f}" if prefect_ok else "n/a"
    total = n * args.rounds
    print(
        f"successes: skiff {skiff_ok}/{total}, prefect-client {prefect_ok}/{total}, "
        f"skiff/prefect {ratio}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
