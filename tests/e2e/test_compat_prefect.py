"""The same flow, run once by real Prefect and once by skiff, must look the same on the server.

Both run as subprocesses against the session's Prefect 3.9.1 server: Prefect with the
server environment's python (``PREFECT_HOME`` in a scratch folder), skiff with ours.

Differences that remain, on purpose (each asserted below, so a change shows up):

* Flow-run state history: Prefect ``Pending, Running, Completed``; skiff ``Running,
  Completed``, because skiff creates the run already RUNNING in one request.
* Task-run state history: Prefect sends Pending, Running and the final state for every
  task (3 events); skiff sends only what is still current when its reporter sends, so a
  fast task has just its final state (1 event, see ``skiff/runtime/_tasks.py``). The final
  state, ``run_count``, start/end times and ``task_inputs`` edges are the same.
* Logs: both send the user's line; Prefect also sends its engine's own lines
  ("Beginning flow run", "Finished in state", retry notices); skiff sends only user logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts import prefect_server

pytestmark = pytest.mark.server

FLOW_SOURCE = textwrap.dedent(
    """
    import sys
    KIND, SUFFIX = sys.argv[1], sys.argv[2]
    if KIND == "prefect":
        from prefect import flow, task, get_run_logger
    else:
        from skiff import flow, task, get_run_logger
        import skiff

    attempts = {"flaky": 0}

    @task
    def extract():
        return ["a", "b", "c"]

    @task
    def transform(items):
        return [s.upper() for s in items]

    @task
    def load(items):
        return "-".join(items)

    @task(retries=1)
    def flaky():
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    @task
    def square(x):
        return x * x

    @flow(name="compat-child-" + SUFFIX)
    def child(text):
        return len(text)

    @flow(name="compat-" + SUFFIX)
    def parent():
        get_run_logger().info("compat log line")
        loaded = load(transform(extract()))
        flaky()
        squares = square.map([1, 2, 3]).result()
        return child(loaded) + sum(squares)

    print(parent())
    if KIND != "prefect":
        assert skiff.flush(30)
    """
)


def _run(python: str, script: Path, kind: str, suffix: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [python, str(script), kind, suffix], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _one_run(client: httpx.Client, flow_name: str) -> dict[str, Any]:
    runs = client.post("/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}).json()
    assert len(runs) == 1, runs
    return runs[0]  # type: ignore[no-any-return]


def _recorded(client: httpx.Client, suffix: str) -> dict[str, Any]:
    """What the server holds for one side, once its recorder has caught up."""
    parent = _one_run(client, f"compat-{suffix}")
    child = _one_run(client, f"compat-child-{suffix}")
    deadline = time.monotonic() + 60
    while True:
        tasks = client.post(
            "/task_runs/filter", json={"flow_runs": {"id": {"any_": [parent["id"]]}}}
        ).json()
        if len(tasks) == 8 and all(t["state_type"] == "COMPLETED" for t in tasks):
            break
        assert time.monotonic() < deadline, f"{suffix}: recorder did not catch up: {tasks}"
        time.sleep(0.25)
    by_id = {t["id"]: t for t in tasks}

    def base(name: str) -> str:
        return name.rsplit("-", 1)[0]

    def history(run_id: str) -> list[tuple[str, str]]:
        states = client.get("/flow_run_states/", params={"flow_run_id": run_id}).json()
        return [(s["type"], s["name"]) for s in sorted(states, key=lambda s: s["timestamp"])]

    task_rows = Counter(
        (
            base(t["name"]).replace(suffix, "X"),
            base(t["task_key"]).replace(suffix, "X"),
            len(t["task_key"].rsplit("-", 1)[1]),
            t["state_type"],
            t["state_name"],
            t["run_count"],
        )
        for t in tasks
    )
    edges = Counter(
        (
            base(t["name"]).replace(suffix, "X"),
            key,
            tuple(sorted(base(by_id[e["id"]]["name"]) for e in inputs)),
        )
        for t in tasks
        for key, inputs in t["task_inputs"].items()
    )
    logs = client.post(
        "/logs/filter", json={"logs": {"flow_run_id": {"any_": [parent["id"]]}}}
    ).json()
    parent_task = by_id.get(child["parent_task_run_id"])
    return {
        "parent_history": history(parent["id"]),
        "child_history": history(child["id"]),
        "tasks": task_rows,
        "edges": edges,
        "logs": {log["message"] for log in logs},
        "child_parent_task": parent_task and base(parent_task["name"]).replace(suffix, "X"),
        "parent_state": (parent["state_type"], parent["state_name"]),
    }


def test_same_flow_same_records(prefect_api_url: str, tmp_path: Path) -> None:
    script = tmp_path / "compat_flow.py"
    script.write_text(FLOW_SOURCE)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    base_env.pop("VIRTUAL_ENV", None)
    prefect_env = {
        **base_env,
        "PREFECT_API_URL": prefect_api_url,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    skiff_env = {**base_env, "PREFECT_API_URL": prefect_api_url}
    skiff_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])

    prefect_python = str(prefect_server.ensure_env())
    tag = uuid.uuid4().hex[:8]
    assert _run(prefect_python, script, "prefect", f"p{tag}", prefect_env) == "19"
    assert _run(sys.executable, script, "skiff", f"s{tag}", skiff_env) == "19"

    with httpx.Client(base_url=prefect_api_url, timeout=30) as client:
        prefect = _recorded(client, f"p{tag}")
        ours = _recorded(client, f"s{tag}")

    # Known difference 1: skiff creates the flow run RUNNING (no Pending row).
    assert prefect["parent_history"] == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]
    assert ours["parent_history"] == prefect["parent_history"][1:]
    assert ours["child_history"] == prefect["child_history"][1:]
    assert ours["parent_state"] == prefect["parent_state"] == ("COMPLETED", "Completed")

    # Same task runs: names, task_key shape, final state, run_count (flaky ran twice).
    assert ours["tasks"] == prefect["tasks"], (ours["tasks"], prefect["tasks"])
    # Same data-dependency edges (the UI graph).
    assert ours["edges"] == prefect["edges"], (ours["edges"], prefect["edges"])
    # Same parent/child link: the child run points at a task run of the parent's.
    assert ours["child_parent_task"] == prefect["child_parent_task"] == "compat-child-X"

    # Known difference 3: Prefect also logs its engine's lines; the user's line is in both.
    assert "compat log line" in ours["logs"]
    assert "compat log line" in prefect["logs"]
    assert ours["logs"] == {"compat log line"}, ours["logs"]
    engine_lines = prefect["logs"] - ours["logs"]
    assert any("Finished in state" in line for line in engine_lines), engine_lines
