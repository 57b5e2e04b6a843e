"""Google Cloud Functions adapter, through real functions-framework servers on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.demo_functions import FunctionsFramework, find_run
from skiff import Client
from skiff.client import models

pytestmark = pytest.mark.server

SUFFIX = uuid.uuid4().hex[:8]

# One module, served once per target as Cloud Functions does; flow names are unique per session.
SOURCE = f"""
import time

import functions_framework
import functions_framework.aio

from skiff import flow, get_run_logger, task
from skiff.adapters.gcp import cloud_event_flow, http_flow


@task
def double(x: int) -> int:
    return 2 * x


@functions_framework.http
@http_flow(name="gcf-http-{SUFFIX}", log_prints=True)
def report_http(request):
    get_run_logger().info("got %s", request.args.get("x"))
    print("printed too")
    return {{"doubled": double(int(request.args["x"]))}}, 201, {{"X-Kept": "yes"}}


@functions_framework.cloud_event
@cloud_event_flow(name="gcf-event-{SUFFIX}")
def report_event(event):
    get_run_logger().info("event %s", event["id"])
    double(event.data["x"])


@functions_framework.http
@http_flow(name="gcf-broken-{SUFFIX}")
def broken_http(request):
    raise KeyError("no such order")


@functions_framework.http
@http_flow(name="gcf-slow-{SUFFIX}")
def slow_http(request):
    for _ in range(200):  # short sleeps, so the framework's timeout can interrupt
        time.sleep(0.05)
    return "finished"


@functions_framework.http
@http_flow
@flow(name="gcf-flow-{SUFFIX}")
def flow_http(a: int, b: int = 0) -> dict:
    return {{"sum": a + b}}


@functions_framework.aio.http
@http_flow
@flow(name="gcf-aio-{SUFFIX}")
async def aio_http(a: int, b: int = 0) -> dict:
    get_run_logger().info("adding asynchronously")
    return {{"sum": a + b}}
"""

PLATFORM_ENV = {
    "K_SERVICE": "orders-svc",
    "K_REVISION": "orders-svc-00007-abc",
    "FUNCTION_REGION": "europe-west1",
    "GOOGLE_CLOUD_PROJECT": "skiff-test",
}


@pytest.fixture(scope="module")
def servers(prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Every target served by its own functions-framework process (started in parallel)."""
    source = tmp_path_factory.mktemp("gcf") / "main.py"
    source.write_text(SOURCE)
    env = {"PREFECT_API_URL": prefect_api_url, **PLATFORM_ENV}
    # The framework's own per-request timeout, like the platform's: interrupts at 2 s.
    slow_env = {**env, "CLOUD_RUN_TIMEOUT_SECONDS": "2", "THREADED_TIMEOUT_ENABLED": "true"}
    started = {
        name: FunctionsFramework(source, name, env).start()
        for name in ("report_http", "report_event", "broken_http", "flow_http")
    }
    started["slow_http"] = FunctionsFramework(source, "slow_http", slow_env).start()
    started["aio_http"] = FunctionsFramework(source, "aio_http", env, asgi=True).start()
    try:
        for server in started.values():
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.terminate()
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def client(prefect_api_url: str) -> Iterator[Client]:
    with Client(prefect_api_url) as c:
        yield c


def _tasks(client: Client, run_id: Any) -> list[models.TaskRun]:
    ids = models.TaskRunFilterFlowRunId(any_=[run_id])
    return client.task_runs.filter(task_runs=models.TaskRunFilter(flow_run_id=ids))


def _logs(client: Client, run_id: Any) -> list[str]:
    ids = models.LogFilterFlowRunId(any_=[run_id])
    return [str(log.message) for log in client.logs.filter(logs=models.LogFilter(flow_run_id=ids))]


def _history(client: Client, run_id: Any) -> list[str]:
    states = client.flow_run_states.read_all(flow_run_id=run_id)
    return [str(s.name) for s in sorted(states, key=lambda s: s.timestamp)]


def _call(server: FunctionsFramework, path: str, **kwargs: Any) -> tuple[Any, str]:
    execution_id = uuid.uuid4().hex
    headers = {"Function-Execution-Id": execution_id, **kwargs.pop("headers", {})}
    reply = server.http.request(kwargs.pop("method", "GET"), path, headers=headers, **kwargs)
    return reply, execution_id


def test_http_function_reports_run_tasks_logs_and_labels(servers: Any, client: Client) -> None:
    reply, execution_id = _call(servers["report_http"], "/?x=21")
    # The handler's (body, status, headers) tuple went through unchanged.
    assert reply.status_code == 201 and reply.json() == {"doubled": 42}
    assert reply.headers["X-Kept"] == "yes"
    run = find_run(client, f"gcf-http-{SUFFIX}", "gcp.execution_id", execution_id)
    assert run.state_name == "Completed"
    assert run.labels is not None
    assert {k: run.labels.get(k) for k in ("gcp.function.name", "gcp.function.target")} == {
        "gcp.function.name": "orders-svc",
        "gcp.function.target": "report_http",
    }
    assert run.labels["gcp.function.revision"] == "orders-svc-00007-abc"
    assert run.labels["gcp.region"] == "europe-west1"
    assert run.labels["gcp.project"] == "skiff-test"
    assert run.labels["gcp.trigger"] == "http"
    assert run.parameters["request"]["query"] == {"x": "21"}
    assert run.parameters["request"]["method"] == "GET"
    tasks = _tasks(client, run.id)
    assert [t.state_name for t in tasks] == ["Completed"] and tasks[0].name.startswith("double")
    assert {"got 21", "printed too"} <= set(_logs(client, run.id))


def test_cloud_event_function_reports_run_with_event_labels(servers: Any, client: Client) -> None:
    event_id = str(uuid.uuid4())
    reply = servers["report_event"].post_event(
        event_id, "com.example.order.created", "//orders/test", {"x": 5}
    )
    assert reply.status_code == 200, servers["report_event"].log()
    run = find_run(client, f"gcf-event-{SUFFIX}", "gcp.event.id", event_id)
    assert run.state_name == "Completed"
    assert run.labels is not None
    assert run.labels["gcp.event.type"] == "com.example.order.created"
    assert run.labels["gcp.event.source"] == "//orders/test"
    assert run.labels["gcp.trigger"] == "cloudevent"
    assert run.labels["gcp.function.target"] == "report_event"
    assert run.idempotency_key == f"gcp-cloudevent://orders/test:{event_id}"
    assert run.parameters["event"]["data"] == {"x": 5}
    assert [t.state_name for t in _tasks(client, run.id)] == ["Completed"]
    assert f"event {event_id}" in _logs(client, run.id)


def test_raising_function_gives_failed_run_and_500(servers: Any, client: Client) -> None:
    reply, execution_id = _call(servers["broken_http"], "/")
    assert reply.status_code == 500
    run = find_run(client, f"gcf-broken-{SUFFIX}", "gcp.execution_id", execution_id)
    assert run.state_name == "Failed"
    assert run.state is not None and "KeyError" in str(run.state.message)
    # The user's exception reached the framework unchanged.
    assert "KeyError: 'no such order'" in servers["broken_http"].log()


def test_function_past_its_deadline_is_timed_out_never_running(
    servers: Any, client: Client
) -> None:
    reply, execution_id = _call(servers["slow_http"], "/")
    assert reply.status_code == 500  # the framework interrupted the call at 2 s
    assert "RequestTimeoutException" in servers["slow_http"].log()
    run = find_run(client, f"gcf-slow-{SUFFIX}", "gcp.execution_id", execution_id, timeout=10)
    assert run.state_name == "TimedOut" and run.state_type == "FAILED"
    assert _history(client, run.id) == ["Pending", "Running", "TimedOut"]  # as Prefect records it


def test_wrapped_flow_gets_parameters_from_query_and_json(servers: Any, client: Client) -> None:
    reply, execution_id = _call(servers["flow_http"], "/?a=ignored", method="POST", json={"a": 2})
    assert reply.status_code == 200 and reply.json() == {"sum": 2}
    run = find_run(client, f"gcf-flow-{SUFFIX}", "gcp.execution_id", execution_id)
    assert run.state_name == "Completed" and run.parameters == {"a": 2}


def test_asgi_flavour_runs_async_wrapped_flow(servers: Any, client: Client) -> None:
    server = servers["aio_http"]
    reply = server.http.post("/", json={"a": 2, "b": 3})
    assert reply.status_code == 200 and reply.json() == {"sum": 5}, server.log()
    flows = models.FlowFilter(name=models.FlowFilterName(any_=[f"gcf-aio-{SUFFIX}"]))
    runs = client.flow_runs.filter(flows=flows)
    assert [(r.state_name, r.parameters) for r in runs] == [("Completed", {"a": 2, "b": 3})]
    assert runs[0].labels is not None and runs[0].labels["gcp.trigger"] == "http"
    assert "adding asynchronously" in _logs(client, runs[0].id)


def test_demo_reports_what_the_server_recorded(prefect_api_url: str) -> None:
    from scripts.demo_functions import run_gcp_demo

    lines = run_gcp_demo(prefect_api_url)
    runs = [line for line in lines if " run " in line]
    assert [line.split(": ")[1].split(" |")[0] for line in runs] == [
        "Completed",
        "Failed",
        "Completed",
    ], lines
