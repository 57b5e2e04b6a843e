"""Flows against the real server: what it records, orchestration answers, adapters' API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import respx

import skiff
from skiff._engine import (
    FlowRunAborted,
    FlowRunRejected,
    RunHandle,
    flow,
    get_run_logger,
    run_flow,
    task,
)
from tests.engine.conftest import Server, wait_for
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_flow_reports_tasks_logs_tags_names_and_subflow(api_env: str, server: Server) -> None:
    child_name = _name("child")

    @task(task_run_name="double-{x}", tags=["math"])
    def double(x: int) -> int:
        return x * 2

    @task
    def total(values: list[int]) -> int:
        return sum(values)

    @flow(name=child_name, log_prints=True)
    def child(n: int) -> int:
        print(f"child got {n}")
        return n

    @flow(name=_name("parent"), flow_run_name="parent-{n}", tags=["outer"])
    def parent(n: int) -> Any:
        get_run_logger().info("starting with %d", n)
        futures = double.map([1, 2, n])
        result = total(futures)
        return child(result)

    handles: list[RunHandle] = []
    state = run_flow(
        parent,
        {"n": 3},
        labels={"team": "data"},
        tags=["extra"],
        on_start=handles.append,
        return_state=True,
    )
    assert state.result() == 12
    assert skiff.flush(10)
    run_id = handles[0].flow_run_id
    run = server.wait_final(run_id, tasks=5)
    assert run["name"] == "parent-3" and run["state_name"] == "Completed"
    assert set(run["tags"]) == {"outer", "extra"} and run["labels"]["team"] == "data"
    assert server.history(run_id) == ["Pending", "Running", "Completed"]
    tasks = {t["name"]: t for t in server.task_runs(run_id)}
    assert {"double-1", "double-2", "double-3", f"{child_name}-0"} <= set(tasks)
    assert tasks["double-1"]["tags"] == ["math", "outer"] or set(tasks["double-1"]["tags"]) == {
        "math",
        "outer",
        "extra",
    }
    total_run = next(t for name, t in tasks.items() if name.startswith("total-"))
    upstream = {e["id"] for e in total_run["task_inputs"]["values"]}
    assert upstream == {tasks[f"double-{i}"]["id"] for i in (1, 2, 3)}
    assert "starting with 3" in server.logs(run_id)
    (child_run,) = server.runs_of(child_name)
    assert child_run["parent_task_run_id"] == tasks[f"{child_name}-0"]["id"]
    wait_for(lambda: "child got 12" in server.logs(child_run["id"]), 10, "the printed line")
    wait_for(lambda: server.flow_run(child_run["id"])["state_name"] == "Completed", 10)


def test_warm_flow_costs_three_requests(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, api_env: str
) -> None:
    """A warm flow: the create (PENDING), Running and the final state, as Prefect records
    a run (it was two before runtime v2: a create already RUNNING, and the final state);
    the engine's log lines ("Beginning flow run", "Finished in state") go in log batches."""
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)

    @flow(name=_name("warm"))
    def empty() -> int:
        return 1

    empty()
    assert skiff.flush(10)
    proxy.forwarded.clear()
    assert empty() == 1
    assert skiff.flush(10)
    # Answered ones only: the shared SQLite server may answer 503 (busy), and skiff asks again.
    paths = [p.split("/api", 1)[1].split("?")[0] for _, p, code in proxy.forwarded if code < 300]
    states = [p for p in paths if p != "/logs/"]
    assert len(states) == 3, paths
    assert states[0] == "/flow_runs/" and all(p.endswith("/set_state") for p in states[1:])
    assert 1 <= paths.count("/logs/") <= 2, paths


def test_deployment_run_is_taken_over(
    api_env: str, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _name("deployed")
    flow_id = server.http.post("/flows/", json={"name": name}).json()["id"]
    created = server.http.post(
        "/flow_runs/", json={"flow_id": flow_id, "parameters": {"x": 41}}
    ).json()
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", created["id"])

    @flow(name=name)
    def deployed(x: int = 0) -> int:
        return x + 1

    assert deployed() == 42  # the run's parameters win
    assert skiff.flush(10)
    run = server.wait_final(created["id"])
    assert run["state_name"] == "Completed" and run["run_count"] == 1
    assert server.history(created["id"]) == ["Pending", "Running", "Completed"]
    assert len(server.runs_of(name)) == 1


@pytest.mark.parametrize("state_type", ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"])
def test_a_finished_run_is_not_taken_over_again(
    api_env: str, server: Server, monkeypatch: pytest.MonkeyPatch, state_type: str
) -> None:
    # The server lets a CANCELLED, FAILED or CRASHED run go back to RUNNING, so a function
    # started late (or retried by its platform) used to run a cancelled or finished run again.
    name = _name("finished")
    flow_id = server.http.post("/flows/", json={"name": name}).json()["id"]
    state = {"type": state_type, "name": state_type.capitalize()}
    created = server.http.post("/flow_runs/", json={"flow_id": flow_id, "state": state}).json()
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", created["id"])
    calls: list[int] = []

    @flow(name=name)
    def late() -> None:
        calls.append(1)

    with pytest.raises(FlowRunAborted, match=f"already {state_type.capitalize()}"):
        late()
    assert skiff.flush(10)
    assert not calls
    assert server.history(created["id"]) == [state_type.capitalize()]


def test_same_idempotency_key_gives_one_run(api_env: str, server: Server) -> None:
    name = _name("idem")
    calls: list[int] = []

    @flow(name=name)
    def once(x: int) -> int:
        calls.append(x)
        return x

    key = uuid.uuid4().hex
    assert run_flow(once, {"x": 1}, idempotency_key=key) == 1
    assert skiff.flush(10)
    # The run already completed: skiff does not run the body again.
    with pytest.raises(FlowRunRejected, match="already completed") as caught:
        run_flow(once, {"x": 1}, idempotency_key=key)
    assert caught.value.state is not None and caught.value.state.is_completed()
    assert calls == [1]
    (run,) = server.runs_of(name)
    assert run["run_count"] == 1


def test_same_key_while_the_completion_is_on_its_way_does_not_run_again(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, api_env: str, server: Server
) -> None:
    # No flush between the calls, and the first one's reports are held up (its logs are
    # delayed): the server still has the run RUNNING when the second call asks.
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    proxy.add("delay", r"^/api/logs/$", method="POST", seconds=1.5, times=1)
    name = _name("idem-inflight")
    calls: list[int] = []

    @flow(name=name)
    def once() -> int:
        calls.append(1)
        return 1

    key = uuid.uuid4().hex
    assert run_flow(once, {}, idempotency_key=key) == 1
    with pytest.raises(FlowRunRejected, match="already completed"):
        run_flow(once, {}, idempotency_key=key)
    assert calls == [1]
    assert skiff.flush(10)
    (run,) = server.runs_of(name)
    assert server.history(run["id"]) == ["Pending", "Running", "Completed"]


def test_same_key_after_a_failure_retries_the_same_run(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, api_env: str, server: Server
) -> None:
    # The first call's Failed is still on its way when the second call asks (it is
    # delayed): the second must wait for it, or it takes over a run it sees RUNNING.
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    proxy.add("delay", r"^/api/logs/$", method="POST", seconds=1.5, times=1)
    name = _name("idem-retry")
    calls: list[int] = []

    @flow(name=name)
    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first invocation fails")
        return len(calls)

    key = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        run_flow(flaky, {}, idempotency_key=key)
    assert run_flow(flaky, {}, idempotency_key=key) == 2
    assert skiff.flush(10)
    (run,) = server.runs_of(name)
    run = server.wait_final(run["id"])
    assert run["state_name"] == "Completed" and run["run_count"] == 2
    assert server.history(run["id"]) == ["Pending", "Running", "Failed", "Running", "Completed"]


def test_a_takeover_adds_the_callers_labels(api_env: str, server: Server) -> None:
    name = _name("takeover-labels")
    flow_id = server.http.post("/flows/", json={"name": name}).json()["id"]
    created = server.http.post(
        "/flow_runs/", json={"flow_id": flow_id, "labels": {"kept": "yes"}}
    ).json()

    @flow(name=name)
    def body() -> int:
        return 1

    assert run_flow(body, {}, flow_run_id=created["id"], labels={"gcp.region": "here"}) == 1
    assert skiff.flush(10)
    labels = server.http.get(f"/flow_runs/{created['id']}").json()["labels"]
    assert labels["gcp.region"] == "here" and labels["kept"] == "yes"


def test_cancelling_run_is_rejected_before_the_body(api_env: str, server: Server) -> None:
    name = _name("cancelling")
    flow_id = server.http.post("/flows/", json={"name": name}).json()["id"]
    created = server.http.post(
        "/flow_runs/",
        json={"flow_id": flow_id, "state": {"type": "CANCELLING", "name": "Cancelling"}},
    ).json()
    ran: list[bool] = []

    @flow(name=name)
    def body() -> None:
        ran.append(True)

    with pytest.raises(FlowRunRejected, match="cancelling"):
        run_flow(body, {}, flow_run_id=created["id"])
    state = run_flow(body, {}, flow_run_id=created["id"], return_state=True)
    assert state.name == "Cancelling" and not ran


def test_abort_answer_stops_the_run(monkeypatch: pytest.MonkeyPatch, api_env: str) -> None:
    base = "http://abort.test/api"
    monkeypatch.setenv("PREFECT_API_URL", base)
    run_id = str(uuid.uuid4())
    ran: list[bool] = []
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{base}/csrf-token").respond(422)
        mock.get(f"{base}/flow_runs/{run_id}").respond(
            200, json={"id": run_id, "name": "r", "parameters": {}}
        )
        mock.post(f"{base}/flow_runs/{run_id}/set_state").respond(
            200, json={"status": "ABORT", "details": {"reason": "run is locked"}}
        )

        @flow(name="aborted")
        def aborted() -> None:
            ran.append(True)

        with pytest.raises(FlowRunAborted, match="run is locked"):
            run_flow(aborted, {}, flow_run_id=run_id)
    assert not ran


def test_final_state_refused_by_the_server_is_logged(
    api_env: str, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else completes the run, with a persisted result, while its body runs: the
    server refuses the engine's own Completed (REJECT: it would discard that result), skiff
    logs the refusal, and the server keeps its state. (Before v2 this used a late
    ``RunHandle.crash``; crashes are forced now, as Prefect's, so the server takes them.)"""
    handles: list[RunHandle] = []

    @flow(name=_name("completed-meanwhile"))
    def body() -> int:
        run_id = handles[0].flow_run_id
        wait_for(lambda: server.flow_run(run_id)["state_type"] == "RUNNING", 10, "Running")
        data = {"storage_key": "elsewhere", "serializer": {"type": "json"}}
        state = {"type": "COMPLETED", "name": "Completed", "message": "by hand", "data": data}
        server.http.post(f"/flow_runs/{run_id}/set_state", json={"state": state, "force": True})
        return 1

    with caplog.at_level("WARNING", logger="skiff"):
        assert run_flow(body, {}, on_start=handles.append) == 1
        assert skiff.flush(10)
    refusals = [r.getMessage() for r in caplog.records if "did not accept" in r.getMessage()]
    assert len(refusals) == 1 and "REJECT" in refusals[0], refusals
    run = server.flow_run(handles[0].flow_run_id)
    assert (run["state_name"], run["state"]["message"]) == ("Completed", "by hand")


def test_wait_answer_is_obeyed(monkeypatch: pytest.MonkeyPatch, api_env: str) -> None:
    base = "http://wait.test/api"
    monkeypatch.setenv("PREFECT_API_URL", base)
    run_id = str(uuid.uuid4())
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{base}/csrf-token").respond(422)
        mock.get(f"{base}/flow_runs/{run_id}").respond(
            200, json={"id": run_id, "name": "r", "parameters": {}}
        )
        answers = iter(
            [
                httpx.Response(200, json={"status": "WAIT", "details": {"delay_seconds": 0.05}}),
                httpx.Response(
                    200, json={"status": "ACCEPT", "state": {"type": "RUNNING", "name": "Running"}}
                ),
            ]
        )
        route = mock.post(f"{base}/flow_runs/{run_id}/set_state").mock(
            side_effect=lambda _r: next(answers, httpx.Response(201, json={"status": "ACCEPT"}))
        )

        @flow(name="waits")
        def waits() -> int:
            return 5

        assert run_flow(waits, {}, flow_run_id=run_id) == 5
        assert skiff.flush(5)
        assert route.call_count == 3  # WAIT, then RUNNING accepted, then the final state


def test_crash_from_the_handle_wins_over_the_engine(api_env: str, server: Server) -> None:
    handles: list[RunHandle] = []

    @flow(name=_name("crashing"))
    def body() -> int:
        run_id = handles[0].flow_run_id
        # Once Running landed (see the xfail below for a crash queued before it).
        wait_for(lambda: server.flow_run(run_id)["state_type"] == "RUNNING", 10, "Running")
        handles[0].crash("deadline close", state_name="TimedOut", state_type="FAILED")
        return 1

    assert run_flow(body, {}, on_start=handles.append) == 1
    assert skiff.flush(10)
    run = server.wait_final(handles[0].flow_run_id)
    assert (run["state_type"], run["state_name"]) == ("FAILED", "TimedOut")
    assert server.history(handles[0].flow_run_id) == ["Pending", "Running", "TimedOut"]


def test_crash_queued_before_running_is_sent_stays_final(
    proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, api_env: str, server: Server
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    handles: list[RunHandle] = []

    @flow(name=_name("before"))
    def before() -> None:
        get_run_logger().info("a line whose batch is slow")

    @flow(name=_name("crash-early"))
    def body() -> int:
        handles[0].crash("deadline close", state_name="TimedOut", state_type="FAILED")
        return 1

    before()
    assert skiff.flush(10)
    # The run before's last log batch is in flight for a second: this run's Running waits.
    proxy.add("delay", r"^/api/logs/$", method="POST", seconds=1.0, times=1)
    before()
    assert run_flow(body, {}, on_start=handles.append) == 1
    assert skiff.flush(15)
    run_id = handles[0].flow_run_id
    wait_for(lambda: len(server.history(run_id)) >= 3, 10, "three states")
    assert server.history(run_id) == ["Pending", "Running", "TimedOut"]


def test_async_flow_log_prints_reaches_the_server(api_env: str, server: Server) -> None:
    import asyncio

    @flow(name=_name("async-prints"), log_prints=True)
    async def shout(word: str) -> str:
        print(f"async flow says {word}")
        return word

    handles: list[RunHandle] = []

    async def main() -> Any:
        return await skiff._engine.run_flow_async(shout, {"word": "hi"}, on_start=handles.append)

    assert asyncio.run(main()) == "hi"
    assert skiff.flush(10)
    run_id = handles[0].flow_run_id
    server.wait_final(run_id)
    wait_for(lambda: "async flow says hi" in server.logs(run_id), what="the printed line as a log")
