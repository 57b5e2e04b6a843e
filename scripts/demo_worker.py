"""The worker part of the README demo: a deployment run dispatched to a Lambda function.

    .venv/bin/python -m scripts.demo_worker http://127.0.0.1:4200/api

:func:`run_worker_demo` serves ``examples/lambda_handler.py`` in skiff's Lambda emulator
(the real ``awslambdaric``), starts ``skiff worker`` for a ``lambda`` pool, deploys the
handler's flow with ``Flow.deploy`` and starts a run from the API, as the UI's "Run"
button does. The worker invokes the function through boto3 (``AWS_ENDPOINT_URL_LAMBDA``
at the emulator); the function takes the run over. It returns printable lines.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def run_worker_demo(api_url: str) -> list[str]:
    """Dispatch one deployment run through the worker against ``api_url``; what happened."""
    from skiff import Client
    from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
    from skiff.integrations.worker._loop import Worker

    sys.path.insert(0, str(EXAMPLES))
    from lambda_handler import handler

    config = FunctionConfig(
        "orders", "lambda_handler.handler", str(EXAMPLES), env={"PREFECT_API_URL": api_url}
    )
    pool = f"demo-lambda-{uuid.uuid4().hex[:6]}"
    lines: list[str] = []
    with LambdaEmulator([config]) as emu:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = emu.endpoint_url

        async def serve_one() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            worker = Worker(pool, "lambda", api_url=api_url)
            serving = asyncio.create_task(worker.run())
            await worker.wait_ready()
            deployment = await asyncio.to_thread(
                handler.flow.deploy,
                "orders-on-lambda",
                work_pool_name=pool,
                job_variables={"function_name": "orders"},
                api_url=api_url,
            )
            with Client(api_url) as client:
                run = client.request(
                    "POST", f"/deployments/{deployment}/create_flow_run", json={}
                ).json()
                deadline = time.monotonic() + 60
                while run["state_type"] not in FINAL and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    run = client.request("GET", f"/flow_runs/{run['id']}").json()
                logs = client.request(
                    "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}}
                ).json()
            worker.stop()
            await serving
            return run, logs

        run, logs = asyncio.run(serve_one())
    lines.append(f"work pool {pool} (type lambda), deployment orders-on-lambda")
    lines.append(f"flow run {run['name']}: {run['state_type']} via {run['infrastructure_pid']}")
    for entry in logs:
        lines.append(f"  log: {entry['message']}")
    return lines


if __name__ == "__main__":
    for line in run_worker_demo(sys.argv[1]):
        print(line)
