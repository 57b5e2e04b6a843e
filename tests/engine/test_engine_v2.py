"""Runtime v2 against the real server: what Prefect 3.9.1 records, skiff must record too.

Each test runs flows and tasks with skiff and asserts what the server stored (histories,
task runs, inputs, logs, tags), as a real Prefect 3.9.1 program records the same calls
(checked by hand with the Prefect install under ``.cache``: standalone task runs, flow
retries, ``allow_failure``/``quote``/``wait_for`` inputs, a task returning ``Failed``).
"""

from __future__ import annotations

import asyncio
import builtins
import sys
import threading
import uuid
from typing import Any

import pytest

import skiff
from skiff.exceptions import FailedRun, NotSupportedError
from skiff.states import Failed
from skiff.task_runners import ThreadPoolTaskRunner
from skiff.utilities.annotations import quote
from tests.engine.conftest import Server, wait_for
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
FLUSH = 20  # seconds; the session server may be shared and busy (SQLite answers 503)


def _name(prefix: str) -> str:
    return f"v2-{prefix}-{uuid.uuid4().hex[:8]}"


def _runs(server: Server, flow_name: str, count: int = 1) -> list[dict[str, Any]]:
    """The flow's runs, once ``count`` of them are final."""

    def probe() -> list[dict[str, Any]] | None:
        runs = server.runs_of(flow_name)
        done = [r for r in runs if r["state_type"] in FINAL]
        return runs if len(done) >= count else None

    return wait_for(probe, 20, f"{count} final run(s) of {flow_name}")


def _tasks(server: Server, run_id: Any, count: int) -> dict[str, dict[str, Any]]:
    """The flow run's task runs by name, once ``count`` of them are final."""

    def probe() -> dict[str, dict[str, Any]] | None:
        found = server.task_runs(run_id)
        # (the recorder may set state_type a moment before the state itself)
        done = [t for t in found if t["state_type"] in FINAL and t["state"] is not None]
        return {t["name"]: t for t in found} if len(done) >= count else None

    return wait_for(probe, 20, f"{count} final task runs of {run_id}")


def _task_history(server: Server, task_run_id: Any) -> list[str]:
    states = server.http.get("/task_run_states/", params={"task_run_id": str(task_run_id)}).json()
    return [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]


def _task_logs(server: Server, task_run_id: Any) -> list[dict[str, Any]]:
    body = {"logs": {"task_run_id": {"any_": [str(task_run_id)]}}}
    return server.http.post("/logs/filter", json=body).json()  # type: ignore[no-any-return]


def _named(tasks: dict[str, dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [t for name, t in tasks.items() if name.startswith(prefix + "-")]


# ----------------------------------------------------------------------- log_prints
def test_log_prints_patches_print_only_inside_the_run(
    api_env: str, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    original = builtins.print
    name = _name("prints")
    seen: list[bool] = []

    @skiff.flow(name=name, log_prints=True)
    def loud(fail: bool) -> None:
        seen.append(builtins.print is not original)
        print(f"to the log, fail={fail}")
        print("to stderr, not the log", file=sys.stderr)
        if fail:
            raise ValueError("the body raised")

    assert builtins.print is original
    loud(False)
    assert builtins.print is original
    with pytest.raises(ValueError, match="the body raised"):
        loud(True)
    assert builtins.print is original  # restored after an exception too
    print("after the runs")
    assert seen == [True, True]
    assert skiff.flush(FLUSH)
    out = capsys.readouterr()
    assert "after the runs" in out.out and "to the log" not in out.out
    assert out.err.count("to stderr, not the log") == 2
    by_state = {r["state_type"]: r for r in _runs(server, name, 2)}
    for state, fail in (("COMPLETED", False), ("FAILED", True)):
        run_id = by_state[state]["id"]
        wait_for(lambda run_id=run_id, fail=fail: f"to the log, fail={fail}" in server.logs(run_id))
        assert not any("stderr" in line for line in server.logs(run_id))


def test_log_prints_with_two_concurrent_flows(
    api_env: str, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    """A print goes to a run's log only from inside a ``log_prints`` run, even while
    another thread's run has print patched; print is restored once both end."""
    original = builtins.print
    loud_name, quiet_name = _name("loud"), _name("quiet")
    loud_in, quiet_done = threading.Event(), threading.Event()
    patched_outside: list[bool] = []

    @skiff.flow(name=loud_name, log_prints=True)
    def loud() -> None:
        print("loud before")
        loud_in.set()
        assert quiet_done.wait(10)
        print("loud after")

    @skiff.flow(name=quiet_name)
    def quiet() -> None:
        assert loud_in.wait(10)
        print("quiet prints to stdout")
        quiet_done.set()

    threads = [threading.Thread(target=loud), threading.Thread(target=quiet)]
    for thread in threads:
        thread.start()
    assert loud_in.wait(10)
    patched_outside.append(builtins.print is not original)
    print("main thread prints to stdout")
    for thread in threads:
        thread.join(20)
    assert builtins.print is original
    assert patched_outside == [True]  # patched while a log_prints run was active
    assert skiff.flush(FLUSH)
    out = capsys.readouterr().out
    assert "quiet prints to stdout" in out and "main thread prints to stdout" in out
    assert "loud before" not in out and "loud after" not in out
    (loud_run,) = _runs(server, loud_name)
    (quiet_run,) = _runs(server, quiet_name)
    wait_for(lambda: {"loud before", "loud after"} <= set(server.logs(loud_run["id"])))
    everything = server.logs(loud_run["id"]) + server.logs(quiet_run["id"])
    assert not any("stdout" in line for line in everything)


# ----------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "option",
    [
        {"cache_key_fn": lambda ctx, params: "k"},
        {"cache_policy": None},
        {"cache_expiration": 10},
        {"task_run_name": "t-{x}"},
        {"retry_jitter_factor": 0.5},
        {"retry_condition_fn": lambda task, run, state: True},
        {"refresh_cache": True},
        {"result_storage_key": "k"},
    ],
    ids=lambda option: next(iter(option)),
)
def test_task_only_options_on_a_flow_raise_validation_error(option: dict[str, Any]) -> None:
    key = next(iter(option))
    with pytest.raises(
        skiff.ValidationError, match=f"{key!r} is a @(task|flow) option, not a @(flow|task) one"
    ):
        skiff.flow(**option)
    with pytest.raises(skiff.ValidationError, match=key):
        skiff.flow(lambda x: x, **option)
    skiff.task(lambda x: x, **option)  # a task option indeed


@pytest.mark.parametrize(
    "option",
    [
        {"flow_run_name": "f-{x}"},
        {"task_runner": ThreadPoolTaskRunner()},
        {"validate_parameters": False},
        {"on_crashed": [lambda flow, run, state: None]},
        {"on_cancellation": [lambda flow, run, state: None]},
    ],
    ids=lambda option: next(iter(option)),
)
def test_flow_only_options_on_a_task_raise_validation_error(option: dict[str, Any]) -> None:
    key = next(iter(option))
    with pytest.raises(
        skiff.ValidationError, match=f"{key!r} is a @(task|flow) option, not a @(flow|task) one"
    ):
        skiff.task(**option)
    with pytest.raises(skiff.ValidationError, match=key):
        skiff.task(lambda x: x, **option)
    skiff.flow(lambda x: x, **option)  # a flow option indeed


# ----------------------------------------------------------------------- inputs
def test_wait_for_allow_failure_quote_tags_and_unmapped(api_env: str, server: Server) -> None:
    name = _name("inputs")

    @skiff.task
    def boom() -> None:
        raise ValueError("upstream failed")

    @skiff.task
    def pair() -> list[int]:
        return [1, 2]

    @skiff.task
    def kind(x: Any) -> str:
        return type(x).__name__

    @skiff.task
    def add(a: int, b: int) -> int:
        return a + b

    @skiff.flow(name=name)
    def f() -> tuple[Any, ...]:
        upstream, two = boom.submit(), pair.submit()
        tolerant = kind.submit(skiff.allow_failure(upstream))
        quoted = kind.submit(quote(two))
        waited = kind.submit(5, wait_for=[two])
        with skiff.tags("ctx-tag"):
            mapped = add.map([1, 2], skiff.unmapped(10))
        return tolerant.result(), quoted.result(), waited.result(), mapped.result()

    with skiff.tags("outer-tag"):
        assert f() == ("ValueError", "TaskRunFuture", "int", [11, 12])
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    assert run["state_type"] == "COMPLETED" and "outer-tag" in run["tags"]
    tasks = _tasks(server, run["id"], 7)
    ids = {t["id"]: n.rsplit("-", 1)[0] for n, t in tasks.items()}

    def inputs(task_run: dict[str, Any]) -> dict[str, list[str]]:
        return {k: [ids[e["id"]] for e in v] for k, v in task_run["task_inputs"].items()}

    (boom_run,) = _named(tasks, "boom")
    assert boom_run["state_type"] == "FAILED"
    kinds = sorted((inputs(t) for t in _named(tasks, "kind")), key=str)
    # allow_failure links its upstream; quote passes the future untouched and links
    # nothing; wait_for is an input of its own (all as Prefect records them).
    assert kinds == sorted([{"x": ["boom"]}, {"x": []}, {"x": [], "wait_for": ["pair"]}], key=str)
    assert all(t["state_type"] == "COMPLETED" for t in _named(tasks, "kind"))
    adds = _named(tasks, "add")
    assert len(adds) == 2
    for add_run in adds:
        assert set(add_run["tags"]) == {"ctx-tag", "outer-tag"}
        assert inputs(add_run) == {"a": [], "b": []}


def test_task_returning_failed_is_recorded_failed(api_env: str, server: Server) -> None:
    name = _name("returns-failed")

    @skiff.task
    def gives_up() -> Any:
        return Failed(message="told to fail")

    @skiff.flow(name=name)
    def f() -> str:
        state = gives_up(return_state=True)
        assert state.is_failed()
        with pytest.raises(FailedRun, match="told to fail"):
            gives_up()
        return str(state.message)

    assert f() == "told to fail"
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    tasks = _tasks(server, run["id"], 2)
    assert [(t["state_type"], t["state"]["message"]) for t in tasks.values()] == [
        ("FAILED", "told to fail")
    ] * 2
    assert run["state_type"] == "COMPLETED"


def test_future_result_of_an_async_task_in_an_async_flow(api_env: str, server: Server) -> None:
    name = _name("async")

    @skiff.task
    async def ainc(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    @skiff.flow(name=name)
    async def f() -> int:
        future = ainc.submit(1)
        return future.result() + await ainc(5)  # a blocking result() inside the loop

    assert asyncio.run(f()) == 8
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    assert run["state_type"] == "COMPLETED"
    tasks = _tasks(server, run["id"], 2)
    assert sorted(t["state_name"] for t in tasks.values()) == ["Completed", "Completed"]


# ----------------------------------------------------------------------- records
def test_standalone_task_run_is_recorded(api_env: str, server: Server) -> None:
    marker = uuid.uuid4().hex

    @skiff.task(name=_name("alone"))
    def alone(x: int) -> int:
        skiff.get_run_logger().info("standalone says %s", marker)
        return x * 2

    state = alone(21, return_state=True)
    assert state.result() == 42
    task_run_id = state.details["task_run_id"]
    assert skiff.flush(FLUSH)
    record = wait_for(
        lambda: (
            (r := server.http.get(f"/task_runs/{task_run_id}")).status_code == 200
            and r.json()["state_type"] == "COMPLETED"
            and r.json()
        ),
        20,
        "the standalone task run",
    )
    assert record["flow_run_id"] is None and record["name"] == alone.name
    assert _task_history(server, task_run_id) == ["Pending", "Running", "Completed"]
    logs = wait_for(lambda: _task_logs(server, task_run_id), 10, "its logs")
    # Prefect sends the user's line, not the engine's "Finished in state" for such a run.
    assert [(log["name"], log["message"], log["flow_run_id"]) for log in logs] == [
        ("prefect.task_runs", f"standalone says {marker}", None)
    ]


def test_flow_retries_go_through_the_server(api_env: str, server: Server) -> None:
    name = _name("retries")
    calls: list[int] = []

    @skiff.flow(name=name, retries=1)
    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first attempt fails")
        return len(calls)

    assert flaky() == 2
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    assert (run["state_name"], run["run_count"]) == ("Completed", 2)
    assert server.history(run["id"]) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Running",
        "Completed",
    ]
    wait_for(
        lambda: any("Received non-final state 'AwaitingRetry'" in m for m in server.logs(run["id"]))
    )


def test_an_async_flows_retry_delay_leaves_the_event_loop_free(
    api_env: str, server: Server
) -> None:
    calls: list[int] = []

    @skiff.flow(name=_name("async-retries"), retries=1, retry_delay_seconds=1)
    async def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first attempt fails")
        return len(calls)

    async def main() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            return await flaky(), ticks
        finally:
            ticker.cancel()

    value, ticks = asyncio.run(main())
    assert value == 2
    assert ticks >= 10  # the loop ran other work during the 1 s wait
    assert skiff.flush(FLUSH)


@pytest.mark.parametrize(("lean", "expected"), [("true", ["Completed"]), ("false", None)])
def test_lean_task_events(
    lean: str,
    expected: list[str] | None,
    proxy: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
    api_env: str,
    server: Server,
) -> None:
    """While the run's Running is in flight (1 s), a fast task ends: lean sends only its
    final state; the default sends Prefect's three."""
    monkeypatch.setenv("PREFECT_API_URL", proxy.api_url)
    monkeypatch.setenv("SKIFF_LEAN_TASK_EVENTS", lean)
    proxy.add("delay", r"/set_state$", method="POST", seconds=1.0, times=1)
    name = _name(f"lean-{lean}")

    @skiff.task
    def fast() -> int:
        return 1

    @skiff.flow(name=name)
    def f() -> int:
        return fast()

    assert f() == 1
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    (task_run,) = _tasks(server, run["id"], 1).values()
    assert task_run["state_name"] == "Completed"
    history = _task_history(server, task_run["id"])
    assert history == (expected or ["Pending", "Running", "Completed"])


def test_no_idempotency_key_on_a_plain_run(api_env: str, server: Server) -> None:
    name = _name("plain")

    @skiff.flow(name=name)
    def plain() -> None:
        pass

    plain()
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    assert run["idempotency_key"] is None
    assert server.history(run["id"]) == ["Pending", "Running", "Completed"]


# ----------------------------------------------------------------------- refusals
def test_out_of_scope_names_raise_not_supported() -> None:
    @skiff.flow
    def f() -> None:
        pass

    @skiff.task
    def t() -> None:
        pass

    calls = {
        "serve": lambda: skiff.serve(),
        "aserve": lambda: asyncio.run(skiff.aserve()),
        "pause_flow_run": lambda: skiff.pause_flow_run(),
        "suspend_flow_run": lambda: skiff.suspend_flow_run(),
        "Transaction": lambda: skiff.Transaction(),
        "Flow.serve": lambda: f.serve(),
        "Task.delay": lambda: t.delay(),
        "Task.map(deferred=True)": lambda: t.map([1], deferred=True),
        "on_rollback": lambda: skiff.task(on_rollback=[lambda txn: None]),
    }
    for what, call in calls.items():
        with pytest.raises(NotSupportedError) as caught:
            call()
        assert isinstance(caught.value, skiff.SkiffError), what
        assert isinstance(caught.value, NotImplementedError), what
        assert "skiff" in str(caught.value), (what, str(caught.value))


def test_bad_input_to_public_entry_points_raises_typed_errors(api_env: str, server: Server) -> None:
    bad = {
        "flow(42)": lambda: skiff.flow(42),
        'task("x")': lambda: skiff.task("x"),
        "flow(retries=-1)": lambda: skiff.flow(retries=-1),
        'task(retries="3")': lambda: skiff.task(retries="3"),
        "task(retry_delay_seconds=[])": lambda: skiff.task(retry_delay_seconds=[]),
        "tags(3)": lambda: skiff.tags(3).__enter__(),  # type: ignore[arg-type]
        "ThreadPoolTaskRunner(max_workers=0)": lambda: ThreadPoolTaskRunner(max_workers=0),
    }
    for what, call in bad.items():
        with pytest.raises(skiff.ValidationError) as caught:
            call()
        assert isinstance(caught.value, ValueError), what

    name = _name("uneven")

    @skiff.task
    def add(a: int, b: int) -> int:
        return a + b

    @skiff.flow(name=name)
    def uneven() -> None:
        add.map([1, 2], [1])

    with pytest.raises(skiff.ValidationError, match="different lengths"):
        uneven()
    assert skiff.flush(FLUSH)
    (run,) = _runs(server, name)
    assert run["state_type"] == "FAILED" and "different lengths" in run["state"]["message"]
    assert server.task_runs(run["id"]) == []
