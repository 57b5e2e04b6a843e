"""Behaviour that needs no server: options, states, retries, timeouts, caching, futures."""

from __future__ import annotations

import asyncio
import datetime
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import skiff
from skiff._engine import (
    Flow,
    State,
    StateType,
    Task,
    TaskRunFuture,
    _base,
    _task_engine,
    flow,
    task,
    unmapped,
)
from skiff.exceptions import CrashedRun, FailedRun, FlowRunTimeoutError, TaskRunTimeoutError


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests run flows with reporting off: behaviour only."""
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "SKIFF_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKIFF_REPORTING", "false")


def test_bare_and_called_decorators_sync_and_async() -> None:
    @task
    def double(x: int) -> int:
        return x * 2

    @task(name="triple-it", tags=["t"])
    async def triple(x: int) -> int:
        return x * 3

    @flow
    def sync_flow(x: int) -> int:
        return double(x)

    @flow(name="async-one")
    async def async_flow(x: int) -> int:
        return await triple(x) + double(x)

    assert isinstance(double, Task) and isinstance(sync_flow, Flow)
    assert triple.name == "triple-it" and async_flow.name == "async-one"
    assert sync_flow.name == "sync-flow"  # Prefect's default: underscores become hyphens
    assert sync_flow(4) == 8
    assert asyncio.run(async_flow(2)) == 10
    assert sync_flow.fn(1) == 2  # .fn is the plain function
    assert sync_flow.with_options(name="renamed").name == "renamed"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"retries": -1}, "retries=-1"),
        ({"retries": "3"}, "retries='3'"),
        ({"retries": True}, "retries=True"),
        ({"retry_delay_seconds": []}, "at least one"),
        ({"retry_delay_seconds": [1, "x"]}, "retry_delay_seconds"),
        ({"timeout_seconds": 0}, "> 0"),
        ({"tags": "one"}, "list of strings"),
        ({"on_failure": [1]}, "callable"),
        ({"retrys": 2}, "did you mean 'retries'"),
        ({"log_prints": "yes"}, "True or False"),
    ],
)
def test_bad_options_raise_a_clear_validation_error(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(skiff.ValidationError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        task(**kwargs)
    with pytest.raises(skiff.ValidationError):
        flow(**kwargs)(lambda: None)


def test_non_callable_is_refused() -> None:
    with pytest.raises(skiff.ValidationError, match="needs a function"):
        flow(42)
    with pytest.raises(skiff.ValidationError, match="needs a function"):
        task("nope")


def test_wrong_flow_arguments_raise_validation_error() -> None:
    @flow
    def needs_x(x: int) -> int:
        return x

    with pytest.raises(skiff.ValidationError, match="x"):
        needs_x()


def test_retries_use_the_delay_list_and_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    # The sync driver waits out an AwaitingRetry state's scheduled time with time.sleep.
    monkeypatch.setattr(_task_engine.time, "sleep", slept.append)
    calls = {"n": 0}

    @task(retries=3, retry_delay_seconds=[1, 2], retry_jitter_factor=0.5)
    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise ValueError(f"attempt {calls['n']}")
        return "done"

    @flow
    def f() -> list[State]:
        return [flaky(return_state=True)]

    (state,) = f()
    assert state.is_completed() and state.result() == "done"
    assert calls["n"] == 4
    # The list repeats its last value; Prefect's clamped jitter keeps each delay within
    # [0.63, 1.5] times it (the wait is the time left until the scheduled retry, so a hair
    # less than the drawn delay).
    assert len(slept) == 3
    for got, base in zip(slept, [1, 2, 2], strict=True):
        assert base * 0.6 <= got <= base * 1.5


def test_backoff_without_jitter_is_exact() -> None:
    assert [_base.retry_delay(i, [1, 5]) for i in range(3)] == [1, 5, 5]
    assert _base.retry_delay(4, 3) == 3 and _base.retry_delay(0, None) == 0
    assert _base.jittered(3, 0) == 3 and _base.jittered(3, None) == 3


def test_retries_exhausted_gives_failed_state_and_raises() -> None:
    @task(retries=1)
    def always() -> None:
        raise KeyError("nope")

    @flow
    def f() -> None:
        state = always(return_state=True)
        assert state.type is StateType.FAILED and state.name == "Failed"
        assert isinstance(state.result(raise_on_failure=False), KeyError)
        always()

    with pytest.raises(KeyError):
        f()
    assert f(return_state=True).is_failed()


def test_timeouts_give_timed_out_states() -> None:
    @task(timeout_seconds=0.2)
    def sleepy() -> None:
        # Short sleeps: under pytest-timeout's own alarm, skiff falls back to its watchdog
        # thread, which interrupts between bytecodes rather than inside one long sleep.
        for _ in range(50):
            time.sleep(0.1)

    @task(timeout_seconds=0.2)
    def busy() -> None:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            pass

    @task(timeout_seconds=0.2)
    async def slow_async() -> None:
        await asyncio.sleep(5)

    seen: list[Any] = []

    @flow
    def f() -> None:
        # Kept aside, not returned: a flow returning failed states fails itself (Prefect).
        submitted = busy.submit()
        submitted.wait()
        seen.extend(
            [sleepy(return_state=True), submitted, asyncio.run(slow_async(return_state=True))]
        )

    started = time.monotonic()
    assert f(return_state=True).is_completed()
    first, future, third = seen
    assert isinstance(future, TaskRunFuture)
    for state in (first, future.state, third):
        assert (state.type, state.name) == (StateType.FAILED, "TimedOut")
        assert state.message == "Task run exceeded timeout of 0.2 second(s)"
        with pytest.raises(TaskRunTimeoutError):
            state.result()
    assert time.monotonic() - started < 4


def test_flow_timeout() -> None:
    @flow(timeout_seconds=0.2)
    def slow() -> None:
        for _ in range(50):
            time.sleep(0.1)

    state = slow(return_state=True)
    assert state.name == "TimedOut" and state.is_failed()
    with pytest.raises(FlowRunTimeoutError):
        slow()


def test_cache_key_fn_gives_cached_state_and_expires() -> None:
    calls = {"n": 0}

    def key(ctx: Any, parameters: dict[str, Any]) -> str:
        assert ctx.task.name == "cached_add" and ctx.task_run_id
        return f"add-{parameters['x']}-{id(calls)}"

    @task(cache_key_fn=key, cache_expiration=datetime.timedelta(seconds=0.3))
    def cached_add(x: int) -> int:
        calls["n"] += 1
        return x + 1

    @flow
    def f() -> list[State]:
        return [cached_add(1, return_state=True), cached_add(1, return_state=True)]

    first, second = f()
    assert first.name == "Completed" and second.name == "Cached"
    assert second.type is StateType.COMPLETED and second.result() == 2
    assert calls["n"] == 1
    time.sleep(0.35)  # let the cache entry expire (the behaviour under test is expiry)
    assert f()[0].name == "Completed" and calls["n"] == 2


def test_persisted_results_go_to_the_given_folder_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "results"

    def key(ctx: Any, parameters: dict[str, Any]) -> str:
        return f"p-{parameters['x']}-{tmp_path}"

    @task(cache_key_fn=key, persist_result=True, result_storage=str(store))
    def persisted(x: int) -> int:
        return x

    @task(cache_key_fn=key)
    def in_memory(x: int) -> int:
        return x

    @flow
    def f() -> tuple[int, int]:
        return persisted(7), in_memory(8)

    assert f() == (7, 8)
    assert len(list(store.iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_submit_and_map_sync_and_async() -> None:
    @task
    def inc(x: int, by: int = 1) -> int:
        return x + by

    @task
    async def ainc(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    @flow
    def f() -> tuple[Any, ...]:
        one = inc.submit(1)
        many = inc.map([1, 2, 3], by=unmapped(10))
        from_async = ainc.submit(5)  # no loop here: runs on the pool with asyncio.run
        one.wait()
        assert one.state.is_completed()
        return one.result(), many.result(), from_async.result(), inc(one)

    assert f() == (2, [11, 12, 13], 6, 3)

    @flow
    async def g() -> list[int]:
        futures = ainc.map([1, 2])
        return [await fut for fut in futures]

    assert asyncio.run(g()) == [2, 3]


def test_map_refuses_uneven_iterables() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow
    def f() -> None:
        add.map([1, 2], [1])

    with pytest.raises(skiff.ValidationError, match="different lengths"):
        f()


def test_hooks_run_with_the_final_state() -> None:
    seen: list[tuple[str, str]] = []

    def on_done(obj: Any, run: Any, state: State) -> None:
        seen.append(("done", state.name))

    def on_fail(obj: Any, run: Any, state: State) -> None:
        seen.append(("fail", state.name))
        raise RuntimeError("hooks never break the run")

    @task(on_completion=[on_done], on_failure=[on_fail])
    def maybe(ok: bool) -> int:
        if not ok:
            raise ValueError("no")
        return 1

    @flow(on_completion=[on_done], on_failure=on_fail)
    def f(ok: bool) -> int:
        return maybe(ok)

    assert f(True) == 1
    with pytest.raises(ValueError):
        f(False)
    assert seen == [
        ("done", "Completed"),
        ("done", "Completed"),
        ("fail", "Failed"),
        ("fail", "Failed"),
    ]


def test_states_api() -> None:
    from skiff import states

    # Prefect's keywords; a positional first argument is the message.
    done = states.Completed(data=5)
    assert (
        done.is_completed() and done.is_final() and done.result() == 5 and done.type == "COMPLETED"
    )
    assert states.Completed("all good").message == "all good"
    assert states.Completed("all good").result() is None
    crashed = states.Crashed(message="killed")
    assert crashed.is_crashed() and crashed.message == "killed"
    with pytest.raises(CrashedRun, match="killed"):
        crashed.result()
    failed = states.Failed(message="nope", data=ValueError("inner"))
    with pytest.raises(ValueError, match="inner"):
        failed.result()
    assert isinstance(failed.result(raise_on_failure=False), ValueError)
    with pytest.raises(FailedRun, match="no data"):
        states.Failed(message="no data").result()
    assert states.State.from_api({"type": "SCHEDULED", "name": "AwaitingRetry"}).is_scheduled()


def test_no_api_url_is_a_configuration_error_before_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SKIFF_REPORTING")
    ran = threading.Event()

    @flow
    def f() -> None:
        ran.set()

    with pytest.raises(skiff.ConfigurationError, match="PREFECT_API_URL"):
        f()
    assert not ran.is_set()
