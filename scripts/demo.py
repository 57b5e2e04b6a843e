"""The README's main job: a real local Prefect server, and skiff driving it.

    bash scripts/demo            # installs what it needs, then runs this
    python -m scripts.demo --stop-server

Each part prints what the server recorded, read back through skiff's client. The server
keeps running afterwards so the UI address can be opened; ``scripts/prefect-server stop``
stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from scripts import prefect_server

T = TypeVar("T")


def say(line: str = "") -> None:
    """Print at once, so progress shows while the demo runs."""
    print(line, flush=True)


def client_part(api_url: str) -> str:
    """Create a flow and a flow run, set it Completed, read back what the server recorded."""
    from skiff import Client
    from skiff.client.models import StateCreate

    with Client(api_url) as client:
        flow = client.flows.create(name="skiff-demo")
        run = client.flow_runs.create(
            flow_id=flow.id,
            name=f"client-demo-{uuid.uuid4().hex[:6]}",
            state=StateCreate(type="RUNNING", name="Running"),
            tags=["skiff-demo"],
        )
        result = client.flow_runs.set_state(
            run.id, state=StateCreate(type="COMPLETED", name="Completed", message="set by skiff")
        )
        say(f"  set_state -> {result.status}")
        recorded = client.flow_runs.read(run.id)
        history = client.flow_run_states.read_all(flow_run_id=run.id)
    state = recorded.state
    say(f"  flow run {recorded.name} ({recorded.id})")
    say(f"    flow:    {flow.name} ({flow.id})")
    say(f"    state:   {state.type if state else None} / {state.name if state else None}")
    say(
        f"    history: {' -> '.join(str(s.name) for s in sorted(history, key=lambda s: s.timestamp))}"
    )
    say(f"    tags:    {recorded.tags}")
    return str(recorded.id)


def runtime_part(api_url: str) -> str:
    """Run a small @flow with tasks through skiff's runtime and read back its task runs."""
    os.environ["PREFECT_API_URL"] = api_url
    from skiff import Client, flow, flush, get_run_logger, task
    from skiff.client.models import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    @task
    def extract(n: int) -> list[int]:
        return list(range(n))

    @task(retries=1)
    def square(x: int) -> int:
        return x * x

    @flow(name="skiff-demo-etl", log_prints=True, tags=["skiff-demo"])
    def etl(n: int = 4) -> int:
        numbers = extract(n)
        squares = square.map(numbers)
        total = sum(f.result() for f in squares)
        get_run_logger().info("sum of squares of 0..%d is %d", n - 1, total)
        return total

    started = time.perf_counter()
    state = etl(4, return_state=True)
    flushed = flush(10)
    elapsed = time.perf_counter() - started
    say(f"  etl(4) returned {state.result()} in {elapsed * 1000:.0f} ms (flushed: {flushed})")
    with Client(api_url) as client:
        runs = client.flow_runs.filter(
            flows=FlowFilter(name=FlowFilterName(any_=["skiff-demo-etl"])),
            sort="EXPECTED_START_TIME_DESC",
            limit=1,
        )
        run = runs[0]
        by_run = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        task_runs = _wait_until(
            lambda: client.task_runs.filter(flow_runs=by_run),
            lambda found: (
                sum(t.state is not None and t.state.type == "COMPLETED" for t in found) >= 5
            ),
        )
        logs = client.logs.filter(logs=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    say(f"  flow run {run.name}: {run.state.name if run.state else None}")
    for tr in sorted(task_runs, key=lambda t: t.name):
        state_name = tr.state.name if tr.state else None
        say(f"    task run {tr.name:<12} {state_name}")
    for record in logs:
        say(f"    log: {record.message}")
    return str(run.id)


def _wait_until(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    """Task runs are recorded from events asynchronously: poll until ``done`` or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def _printing(run_lines: Callable[[str], list[str]]) -> Callable[[str], None]:
    def part(api_url: str) -> None:
        for line in run_lines(api_url):
            say(f"  {line}")

    return part


def main(argv: list[str]) -> int:
    """Run every part of the demo against a local real server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-server", action="store_true", help="stop the server at the end")
    args = parser.parse_args(argv)
    say("== starting a real Prefect 3.9.1 server on 127.0.0.1 (first run installs it)")
    server = prefect_server.ensure_running()
    say(f"  API {server.api_url}")
    parts: list[tuple[str, Callable[[str], object]]] = [
        ("client: create a flow and a run, set it Completed, read it back", client_part),
        ("runtime: a @flow with mapped tasks, a retry and a log line", runtime_part),
    ]
    from scripts.demo_functions import run_azure_demo, run_gcp_demo
    from scripts.demo_lambda import run_lambda_demo
    from scripts.demo_worker import run_worker_demo

    for title, run_lines in [
        (
            "AWS Lambda: the real awslambdaric under skiff's emulator, frozen between calls",
            run_lambda_demo,
        ),
        ("Google Cloud Functions: a real functions-framework server on loopback", run_gcp_demo),
        (
            "Azure Functions: a v2-model FunctionApp through the azure.functions converters",
            run_azure_demo,
        ),
        (
            "skiff worker: a deployment run dispatched by the worker to a Lambda function",
            run_worker_demo,
        ),
    ]:
        parts.append((title, _printing(run_lines)))
    try:
        for title, part in parts:
            say()
            say(f"== {title}")
            part(server.api_url)
    finally:
        if args.stop_server:
            server.stop()
            prefect_server.PID_FILE.unlink(missing_ok=True)
    say()
    say(f"Open the UI at {server.ui_url} to see these runs.")
    if not args.stop_server:
        say("The server keeps running; stop it with: scripts/prefect-server stop")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
