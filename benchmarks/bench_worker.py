"""The worker: create_flow_run -> the function's RUNNING, and exactly-once pickup (a script).

    .venv/bin/python benchmarks/bench_worker.py [--runs 50] [--exactly-once 100]
                                                [--api-url URL] [--skip-prefect]

1. Latency, one run at a time, ``--runs`` each: from ``POST /deployments/{id}/create_flow_run``
   (the run's SCHEDULED state) to its RUNNING state, both server timestamps; p50 and p95.
   skiff's worker (events-woken, Lambda dispatch through boto3 to the emulator's Invoke
   API, the real awslambdaric; warm function) beside Prefect 3.9.1's own
   ``prefect worker start --type process`` (its default 10 s polling; a subprocess per
   run) on the same server, in the same process run.
2. Exactly once: ``--exactly-once`` runs created due at once, two skiff workers on the pool;
   every run must end Completed, RUNNING exactly once, and the function must have been
   invoked that many times (a stale poll's PENDING over a finished run is undone by the
   worker; the count of those is shown).

Without ``--api-url`` a Prefect server is started on port 4335 and stopped afterwards.
Ports: the Lambda emulator on 4332.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402
from skiff.client import AsyncClient  # noqa: E402
from skiff.client._constants import SERVER_VERSION  # noqa: E402

PREFECT_PYTHON = ROOT / ".cache" / f"prefect-server-{SERVER_VERSION}" / "bin" / "python"
EMULATOR_PORT = 4332
SERVER_PORT = 4335

LAMBDA_APP = textwrap.dedent(
    """
    from skiff.adapters.aws_lambda import lambda_flow


    @lambda_flow(name="bench-worker")
    def handler(event, context):
        return "ok"
    """
)

PREFECT_FLOW = textwrap.dedent(
    """
    from prefect import flow


    @flow(name="bench-worker-prefect")
    def noop():
        return "ok"
    """
)


def _stamp(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


async def _states(client: AsyncClient, run_id: str) -> dict[str, float]:
    reply = await client.request("GET", "/flow_run_states/", params={"flow_run_id": run_id})
    out: dict[str, float] = {}
    for state in reply.json():
        out.setdefault(state["type"], _stamp(state["timestamp"]))
    return out


async def _latencies(client: AsyncClient, deployment: str, runs: int, limit: float) -> list[float]:
    """Create ``runs`` runs one after the other; SCHEDULED -> RUNNING of each, in seconds."""
    out: list[float] = []
    for _ in range(runs):
        run = (
            await client.request("POST", f"/deployments/{deployment}/create_flow_run", json={})
        ).json()
        deadline = time.monotonic() + limit
        while True:
            state = (await client.request("GET", f"/flow_runs/{run['id']}")).json()["state_type"]
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run['id']} still {state} after {limit} s")
            await asyncio.sleep(0.05)
        if state != "COMPLETED":
            raise RuntimeError(f"run {run['id']} ended {state}")
        states = await _states(client, run["id"])
        out.append(states["RUNNING"] - states["SCHEDULED"])
    return out


async def _skiff_side(api_url: str, app_dir: str, runs: int, exactly_once: int) -> dict[str, Any]:
    from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
    from skiff.integrations.worker._deploy import deploy
    from skiff.integrations.worker._loop import Worker

    env = {"PREFECT_API_URL": api_url, "TMPDIR": "/tmp"}
    config = FunctionConfig("bench", "app.handler", app_dir, timeout=30.0, env=env)
    result: dict[str, Any] = {}
    with LambdaEmulator([config], port=EMULATOR_PORT) as emu:
        os.environ.update(
            AWS_ENDPOINT_URL_LAMBDA=emu.endpoint_url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        emu.invoke("bench", {})  # warm: the latency is the worker's, not a cold start's
        sys.path.insert(0, app_dir)
        import app  # type: ignore[import-not-found]

        async with AsyncClient(api_url) as client:
            pool = f"bench-lambda-{uuid.uuid4().hex[:6]}"
            worker = Worker(pool, "lambda", api_url=api_url)
            task = asyncio.create_task(worker.run())
            await worker.wait_ready()
            deployment = await asyncio.to_thread(
                deploy,
                app.handler.flow,
                "latency",
                work_pool_name=pool,
                job_variables={"function_name": "bench"},
                api_url=api_url,
            )
            result["latency"] = await _latencies(client, str(deployment), runs, 60)
            worker.stop()
            await task

            pool = f"bench-once-{uuid.uuid4().hex[:6]}"
            await Worker(pool, "lambda", api_url=api_url).setup()
            deployment = await asyncio.to_thread(
                deploy,
                app.handler.flow,
                "once",
                work_pool_name=pool,
                job_variables={"function_name": "bench"},
                api_url=api_url,
            )
            before = len(emu.invocations("bench"))
            run_ids = [
                (
                    await client.request(
                        "POST", f"/deployments/{deployment}/create_flow_run", json={}
                    )
                ).json()["id"]
                for _ in range(exactly_once)
            ]
            workers = [Worker(pool, "lambda", api_url=api_url) for _ in range(2)]
            tasks = [asyncio.create_task(w.run()) for w in workers]
            started = time.monotonic()
            while True:
                runs_now = (
                    await client.request(
                        "POST",
                        "/flow_runs/filter",
                        json={"flow_runs": {"id": {"any_": run_ids}}, "limit": len(run_ids)},
                    )
                ).json()
                if all(
                    r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs_now
                ) and len(runs_now) == len(run_ids):
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError("exactly-once runs not final in 600 s")
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - started
            emu.wait_idle(10)
            await asyncio.sleep(1)
            for w in workers:
                w.stop()
            await asyncio.gather(*tasks)
            doubles = undone = 0
            for run_id in run_ids:
                reply = await client.request(
                    "GET", "/flow_run_states/", params={"flow_run_id": run_id}
                )
                types = [s["type"] for s in reply.json()]
                doubles += types.count("RUNNING") != 1
                undone += types.count("PENDING") - 1
            result["once"] = {
                "runs": len(run_ids),
                "completed": sum(r["state_type"] == "COMPLETED" for r in runs_now),
                "invocations": len(emu.invocations("bench")) - before,
                "runs_started_other_than_once": doubles,
                "stale_locks_undone": undone,
                "seconds": elapsed,
            }
    return result


async def _prefect_side(api_url: str, flow_dir: str, runs: int) -> list[float]:
    pool = f"bench-process-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": tempfile.mkdtemp()}
    worker = subprocess.Popen(
        [
            str(PREFECT_PYTHON),
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        async with AsyncClient(api_url) as client:
            for _ in range(600):
                try:
                    await client.request("GET", f"/work_pools/{pool}")
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            flow = (
                await client.request("POST", "/flows/", json={"name": "bench-worker-prefect"})
            ).json()
            body = {
                "name": "latency",
                "flow_id": flow["id"],
                "work_pool_name": pool,
                "entrypoint": "bench_flow.py:noop",
                "path": flow_dir,
                "pull_steps": [
                    {"prefect.deployments.steps.set_working_directory": {"directory": flow_dir}}
                ],
            }
            deployment = (await client.request("POST", "/deployments/", json=body)).json()
            return await _latencies(client, deployment["id"], runs, 120)
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--exactly-once", type=int, default=100)
    parser.add_argument("--api-url")
    parser.add_argument("--skip-prefect", action="store_true")
    args = parser.parse_args()
    handle = None
    api_url = args.api_url
    if api_url is None:
        handle = prefect_server.start(port=SERVER_PORT)
        api_url = handle.api_url
    work = Path(tempfile.mkdtemp(prefix="skiff-bench-worker-"))
    (work / "app.py").write_text(LAMBDA_APP)
    (work / "bench_flow.py").write_text(PREFECT_FLOW)
    try:
        skiff_result = asyncio.run(_skiff_side(api_url, str(work), args.runs, args.exactly_once))
        rows = [("skiff worker (lambda, events)", skiff_result["latency"])]
        if not args.skip_prefect:
            rows.append(
                (
                    "prefect worker --type process",
                    asyncio.run(_prefect_side(api_url, str(work), args.runs)),
                )
            )
    finally:
        if handle is not None:
            handle.stop()
    print(f"create_flow_run -> RUNNING, {args.runs} runs one at a time (server timestamps)")
    for label, values in rows:
        p50, p95 = _percentiles(values)
        print(f"  {label:32s} p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms")
    once = skiff_result["once"]
    print(
        f"exactly once: {once['runs']} runs, two skiff workers: {once['completed']} Completed, "
        f"{once['invocations']} invocations, {once['runs_started_other_than_once']} runs not "
        f"RUNNING exactly once, {once['stale_locks_undone']} stale Pending locks undone, in "
        f"{once['seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
