"""The Lambda part of the README demo: the example handler under the emulator, freezing on.

    .venv/bin/python -m scripts.demo_lambda http://127.0.0.1:4200/api

:func:`run_lambda_demo` invokes ``examples/lambda_handler.py`` through the real
``awslambdaric`` runtime client in skiff's Lambda emulator (the process is frozen right
after each response, as on Lambda): a cold and a warm invocation, a failing one, and an
SQS batch with one malformed record. It then reads back, through skiff's Client, what the
server recorded and returns it as printable lines.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _sqs(*bodies: str) -> dict[str, Any]:
    records = [
        {
            "messageId": f"msg-{i}",
            "body": body,
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
        }
        for i, body in enumerate(bodies, 1)
    ]
    return {"Records": records}


def run_lambda_demo(api_url: str) -> list[str]:
    """Run the example through the emulator against ``api_url``; lines describing the runs."""
    from skiff import Client
    from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
    from skiff.client import models

    env = {"PREFECT_API_URL": api_url}
    functions = [
        FunctionConfig("orders", "lambda_handler.handler", str(EXAMPLES), env=env),
        FunctionConfig("order-queue", "lambda_handler.on_order", str(EXAMPLES), env=env),
    ]
    calls = [
        ("orders", {"items": [1, 2]}),
        ("orders", {"items": [5]}),
        ("orders", {"fail": True}),
        ("order-queue", _sqs('{"items": [2]}', "not json", '{"items": [1, 1]}')),
    ]
    lines = ["AWS Lambda (awslambdaric in skiff's emulator, frozen after each response):"]
    results = []
    with LambdaEmulator(functions, freeze=True) as emulator:
        for name, event in calls:
            result = emulator.invoke(name, event)
            results.append(result)
            temperature = "cold" if result.cold_start else "warm"
            frozen = "frozen" if emulator.is_frozen(name) else "not frozen"
            lines.append(
                f"  invoke {name} ({temperature}): {result.status} "
                f"{json.dumps(result.payload)[:80]} [{frozen}]"
            )
        with Client(api_url) as client:
            for result in results:
                key = models.FlowRunFilterIdempotencyKey(any_=[f"aws-lambda:{result.request_id}"])
                give_up = time.monotonic() + 15
                while True:
                    runs = client.flow_runs.filter(
                        flow_runs=models.FlowRunFilter(idempotency_key=key)
                    )
                    if (runs and runs[0].state_type in FINAL) or time.monotonic() > give_up:
                        break
                    time.sleep(0.1)
                if not runs:
                    lines.append(f"  request {result.request_id}: no flow run recorded")
                    continue
                run = runs[0]
                ids = models.TaskRunFilterFlowRunId(any_=[run.id])
                tasks = client.task_runs.filter(task_runs=models.TaskRunFilter(flow_run_id=ids))
                labels = run.labels or {}
                lines.append(
                    f"  flow run {run.name!r}: {run.state_name} | "
                    f"{len(tasks)} task runs ({', '.join(sorted(str(t.state_name) for t in tasks))}) | "
                    f"trigger={labels.get('aws.lambda.trigger')} "
                    f"cold_start={labels.get('aws.lambda.cold_start')} "
                    f"function={labels.get('aws.lambda.function_name')}"
                )
    return lines


if __name__ == "__main__":
    for line in run_lambda_demo(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4200/api"):
        print(line)
