"""Azure Functions adapter: v2 FunctionApp functions invoked in-process like the worker does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from scripts.demo_functions import (
    azure_context,
    find_run,
    http_datum,
    invoke_azure,
    queue_datum,
    timer_datum,
)
from skiff import Client, flow, get_run_logger, task
from skiff.adapters.azure import azure_flow
from skiff.client import models

pytestmark = pytest.mark.server

SUFFIX = uuid.uuid4().hex[:8]
app = func.FunctionApp()


class OrderError(Exception):
    """The user's own exception type, which must come back unchanged."""


@task
def double(x: int) -> int:
    return 2 * x


@app.route(route="orders/{order_id}")
@azure_flow(name=f"az-http-{SUFFIX}")
def http_order(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    get_run_logger().info("order %s in %s", req.route_params["order_id"], context.function_name)
    if req.params.get("fail"):
        raise OrderError("order rejected")
    return func.HttpResponse(str(double(int(req.params["x"]))), status_code=202)


@app.schedule(schedule="0 */5 * * * *", arg_name="timer")
@azure_flow(name=f"az-timer-{SUFFIX}")
async def tick(timer: func.TimerRequest) -> str:
    await asyncio.sleep(0)
    get_run_logger().info("tick, past due: %s", timer.past_due)
    return "ticked"


@flow(name=f"az-queue-{SUFFIX}")
def handle_order(customer: str, items: list[int]) -> int:
    return sum(double(i) for i in items)


app.queue_trigger(arg_name="msg", queue_name="orders", connection="Storage")(
    azure_flow(handle_order, arg_name="msg")
)


@app.route(route="slow")
@azure_flow(name=f"az-slow-{SUFFIX}", timeout=1.3)  # the guard fires 1 s before: at 0.3 s
def slow(req: func.HttpRequest) -> str:
    time.sleep(0.8)
    return "late"


@pytest.fixture
def client(api_env: str) -> Iterator[Client]:
    with Client(api_env) as c:
        yield c


def _tasks(client: Client, run_id: Any, timeout: float = 15.0) -> list[str]:
    # The server records task-run events asynchronously: wait until they are all final.
    ids = models.TaskRunFilterFlowRunId(any_=[run_id])
    give_up = time.monotonic() + timeout
    while True:
        runs = client.task_runs.filter(task_runs=models.TaskRunFilter(flow_run_id=ids))
        final = all(t.state_type in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for t in runs)
        if final or time.monotonic() > give_up:
            return [str(t.state_name) for t in runs]
        time.sleep(0.1)


def _logs(client: Client, run_id: Any) -> list[str]:
    ids = models.LogFilterFlowRunId(any_=[run_id])
    return [str(log.message) for log in client.logs.filter(logs=models.LogFilter(flow_run_id=ids))]


def test_http_function_reports_run_labels_tasks_and_logs(client: Client) -> None:
    context = azure_context("http_order")
    datum = http_datum("GET", "http://localhost/api/orders/7?x=4", route_params={"order_id": "7"})
    response = invoke_azure(app, "http_order", datum, context=context)
    assert response.status_code == 202 and response.get_body() == b"8"
    run = find_run(client, f"az-http-{SUFFIX}", "azure.invocation_id", context.invocation_id)
    assert run.state_name == "Completed"
    assert run.labels is not None
    assert run.labels["azure.function_name"] == "http_order"
    assert run.labels["azure.trigger"] == "http"
    assert run.parameters["req"]["route_params"] == {"order_id": "7"}
    assert run.parameters["context"]["invocation_id"] == context.invocation_id
    assert _tasks(client, run.id) == ["Completed"]
    assert "order 7 in http_order" in _logs(client, run.id)


def test_raising_function_gives_failed_run_and_reraises_unchanged(client: Client) -> None:
    context = azure_context("http_order")
    datum = http_datum(
        "GET", "http://localhost/api/orders/8?fail=1", route_params={"order_id": "8"}
    )
    with pytest.raises(OrderError, match="order rejected"):
        invoke_azure(app, "http_order", datum, context=context)
    run = find_run(client, f"az-http-{SUFFIX}", "azure.invocation_id", context.invocation_id)
    assert run.state_name == "Failed"
    assert run.state is not None and "OrderError" in str(run.state.message)


def test_async_timer_function_gets_context_it_did_not_declare(client: Client) -> None:
    context = azure_context("tick")
    assert invoke_azure(app, "tick", timer_datum(past_due=True), context=context) == "ticked"
    run = find_run(client, f"az-timer-{SUFFIX}", "azure.invocation_id", context.invocation_id)
    assert run.state_name == "Completed"
    assert run.labels is not None and run.labels["azure.trigger"] == "timer"
    assert run.labels["azure.timer.past_due"] is True
    assert run.parameters == {"timer": {"past_due": True}}
    assert "tick, past due: True" in _logs(client, run.id)


def test_queue_message_feeds_an_existing_flow(client: Client) -> None:
    message_id = str(uuid.uuid4())
    body, metadata = queue_datum('{"customer": "ada", "items": [1, 2]}', message_id, 2)
    context = azure_context("handle_order")
    assert invoke_azure(app, "handle_order", body, trigger_metadata=metadata, context=context) == 6
    run = find_run(client, f"az-queue-{SUFFIX}", "azure.invocation_id", context.invocation_id)
    assert run.state_name == "Completed"
    assert run.parameters == {"customer": "ada", "items": [1, 2]}
    assert run.idempotency_key == f"azure-queue:{message_id}"
    assert run.labels is not None and run.labels["azure.queue.dequeue_count"] == 2
    assert _tasks(client, run.id) == ["Completed", "Completed"]


def test_function_past_its_deadline_is_timed_out(client: Client) -> None:
    context = azure_context("slow")
    assert invoke_azure(app, "slow", http_datum("GET", "http://x/api/slow"), context=context) == (
        "late"
    )
    run = find_run(client, f"az-slow-{SUFFIX}", "azure.invocation_id", context.invocation_id)
    assert run.state_name == "TimedOut"
    states = client.flow_run_states.read_all(flow_run_id=run.id)
    history = [s.name for s in sorted(states, key=lambda s: s.timestamp)]
    assert history == ["Pending", "Running", "TimedOut"]  # as Prefect records it


def test_demo_reports_what_the_server_recorded(api_env: str) -> None:
    from scripts.demo_functions import run_azure_demo

    lines = run_azure_demo(api_env)
    states = [line.split(": ")[1].split(" |")[0] for line in lines if " run " in line]
    assert states == ["Completed", "Failed", "Completed", "Completed"], lines
