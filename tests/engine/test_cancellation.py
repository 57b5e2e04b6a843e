"""Cancelling a running flow run: the server sets it CANCELLING (the UI, the API or a
worker does), the reporter sees that, and the engine stops the flow at the next task it
would start; the run ends Cancelled, after its ``on_cancellation`` hooks."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import skiff
from skiff import flow, task
from skiff.runtime import flow_run
from tests.engine.conftest import Server, wait_for


def test_a_run_set_cancelling_stops_at_its_next_task(api_env: str, server: Server) -> None:
    name = f"cancelled-{uuid.uuid4().hex[:8]}"
    run_ids: list[str] = []
    hooks: list[str] = []

    @task
    def step(i: int) -> int:
        time.sleep(0.1)
        return i

    def on_cancel(_flow: Any, _run: Any, state: Any) -> None:
        hooks.append(state.name)

    @flow(name=name, on_cancellation=[on_cancel])
    def long_running() -> list[int]:
        run_ids.append(str(flow_run.id))
        return [step(i) for i in range(150)]  # about 15 s unless cancelled

    def cancel() -> None:
        wait_for(lambda: run_ids, 20, "the run to start")
        time.sleep(0.5)
        server.http.post(
            f"/flow_runs/{run_ids[0]}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}, "force": True},
        )

    canceller = threading.Thread(target=cancel)
    canceller.start()
    started = time.monotonic()
    state = long_running(return_state=True)
    canceller.join()
    took = time.monotonic() - started
    assert state.is_cancelled(), state
    assert took < 8, f"the flow ran {took:.1f} s after it was cancelled"
    assert hooks == ["Cancelling"]
    assert skiff.flush(10)
    run = server.wait_final(run_ids[0])
    assert run["state_type"] == "CANCELLED"
    assert server.history(run_ids[0])[-2:] == ["Cancelling", "Cancelled"]
    assert len(server.task_runs(run_ids[0])) < 150
