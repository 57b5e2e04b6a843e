"""What the dispatch tests share: a client, a pool with deployments, and reading runs back.

:class:`Deployments` creates a work pool of a dispatcher's type from its base job template,
deployments in it, and hands one run to the dispatcher the way the worker does (propose
PENDING, resolve the job variables, submit, PATCH ``infrastructure_pid``, Crashed with
the dispatcher's message when it raises).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skiff import Client
from skiff.client import models
from skiff.integrations.worker import (
    Dispatcher,
    DispatchError,
    DispatchRequest,
    base_job_template,
)
from skiff.integrations.worker._jobs import check_variables, merged_variables, render

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@pytest.fixture(scope="module")
def client(prefect_api_url: str) -> Iterator[Client]:
    """A client of the session's server."""
    with Client(prefect_api_url) as c:
        yield c


class Deployments:
    """One pool of one dispatcher's type, its deployments, and dispatching their runs."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.pool = f"skiff-pool-{uuid.uuid4().hex[:8]}"
        self.defaults: dict[str, Any] = {}
        self.template: dict[str, Any] = {}
        self.dispatcher: Dispatcher | None = None

    def create_pool(self, dispatcher: type[Dispatcher], defaults: dict[str, Any]) -> None:
        """The pool, its template's defaults set to ``defaults`` (as the UI's edit does)."""
        template = base_job_template(dispatcher)
        for name, value in defaults.items():
            template["variables"]["properties"][name]["default"] = value
        self.client.work_pools.create(
            name=self.pool, type=dispatcher.type, base_job_template=template
        )
        self.template, self.defaults = template, dict(defaults)
        self.dispatcher = dispatcher()

    def deploy(self, flow_name: str, job_variables: dict[str, Any]) -> Any:
        """A deployment of ``flow_name`` in the pool (no code storage: the code is the function's)."""
        flow = self.client.flows.create(name=flow_name)
        deployment = self.client.deployments.create(
            flow_id=flow.id,
            name=f"{flow_name}-{uuid.uuid4().hex[:6]}",
            work_pool_name=self.pool,
            job_variables=job_variables,
        )
        return deployment.id

    def request(self, run_id: str | None = None) -> DispatchRequest:
        """What the worker hands the dispatcher for ``run_id`` (a fresh id by default)."""
        run_id = run_id or str(uuid.uuid4())
        return DispatchRequest(
            flow_run_id=run_id,
            flow_run_name="run",
            deployment_id=None,
            flow_name=None,
            payload={"flow_run_id": run_id},
        )

    def dispatch(self, run_id: Any) -> str | None:
        """Lock, resolve, submit, record the pid; None when the dispatcher raised (Crashed)."""
        assert self.dispatcher is not None, "create_pool first"
        run = self.client.flow_runs.read(run_id)
        deployment = self.client.deployments.read(run.deployment_id)
        pending = models.StateCreate(type="PENDING")
        assert self.client.flow_runs.set_state(run_id, state=pending).status == "ACCEPT"
        variables = merged_variables(self.template, deployment.job_variables, run.job_variables)
        check_variables(self.template, variables)
        config = render(self.template["job_configuration"], variables)
        request = DispatchRequest(
            flow_run_id=str(run_id),
            flow_run_name=str(run.name),
            deployment_id=str(deployment.id),
            flow_name=None,
            payload={"flow_run_id": str(run_id)},
        )
        try:
            pid = self.dispatcher.submit(request, config)
        except DispatchError as exc:
            crashed = models.StateCreate(type="CRASHED", name="Crashed", message=str(exc))
            self.client.flow_runs.set_state(run_id, state=crashed)
            return None
        self.client.flow_runs.update(run_id, infrastructure_pid=pid)
        return pid

    def wait_final(self, run_id: Any, timeout: float = 30) -> models.FlowRunResponse:
        """The run once it is in a final state."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.client.flow_runs.read(run_id)
            if run.state_type in FINAL or time.monotonic() > deadline:
                return run
            time.sleep(0.1)

    def close(self) -> None:
        """Close the dispatcher and delete the pool."""
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.client.work_pools.delete(self.pool)


@pytest.fixture
def deployments(client: Client) -> Iterator[Deployments]:
    """A fresh pool's worth of deployments (the test creates the pool)."""
    made = Deployments(client)
    try:
        yield made
    finally:
        if made.dispatcher is not None:
            made.close()


def task_states(client: Client, run_id: Any, timeout: float = 15.0) -> list[str]:
    """The run's task-run states, once all are final (the server records them asynchronously)."""
    ids = models.TaskRunFilterFlowRunId(any_=[run_id])
    give_up = time.monotonic() + timeout
    while True:
        runs = client.task_runs.filter(task_runs=models.TaskRunFilter(flow_run_id=ids))
        if (runs and all(t.state_type in FINAL for t in runs)) or time.monotonic() > give_up:
            return [str(t.state_name) for t in runs]
        time.sleep(0.1)


def log_messages(client: Client, run_id: Any) -> list[str]:
    """The run's log lines."""
    ids = models.LogFilterFlowRunId(any_=[run_id])
    return [str(log.message) for log in client.logs.filter(logs=models.LogFilter(flow_run_id=ids))]


def history(client: Client, run_id: Any) -> list[str]:
    """The run's state names, oldest first."""
    states = client.flow_run_states.read_all(flow_run_id=run_id)
    return [str(s.name) for s in sorted(states, key=lambda s: s.timestamp)]
