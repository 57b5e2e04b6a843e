"""What the dispatch tests share: a client, a pool served by skiff's worker, reading runs back.

:class:`Deployments` creates a work pool of a dispatcher's type from its base job template
(with the test's defaults), runs :class:`skiff.integrations.worker.Worker` on it in a
thread, and creates deployments in it whose runs the worker picks up.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skiff import Client
from skiff.client import models
from skiff.integrations.worker import Dispatcher, DispatchRequest, Worker, base_job_template

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


@pytest.fixture(scope="module")
def client(prefect_api_url: str) -> Iterator[Client]:
    """A client of the session's server."""
    with Client(prefect_api_url) as c:
        yield c


class Deployments:
    """One pool of one dispatcher's type, served by a worker, and its deployments."""

    def __init__(self, client: Client, api_url: str) -> None:
        self.client = client
        self.api_url = api_url
        self.pool = f"skiff-pool-{uuid.uuid4().hex[:8]}"
        self.defaults: dict[str, Any] = {}
        self.worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def serve(self, dispatcher: type[Dispatcher], defaults: dict[str, Any]) -> None:
        """Create the pool, its template's defaults set to ``defaults`` (as the UI's edit
        does), and start a worker on it (returns once it polls)."""
        template = base_job_template(dispatcher)
        for name, value in defaults.items():
            template["variables"]["properties"][name]["default"] = value
        self.client.work_pools.create(
            name=self.pool, type=dispatcher.type, base_job_template=template
        )
        self.defaults = dict(defaults)
        worker = Worker(
            self.pool, dispatcher.type, api_url=self.api_url, poll_interval=1, watch_interval=0.5
        )
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=loop.run_until_complete, args=(worker.run(),), name="worker", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(worker.wait_ready(), loop).result(30)
        self.worker, self._loop = worker, loop

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

    def request(self) -> DispatchRequest:
        """What the worker hands a dispatcher, for a run id the server lacks."""
        run_id = str(uuid.uuid4())
        return DispatchRequest(
            flow_run_id=run_id,
            flow_run_name="run",
            deployment_id=None,
            flow_name=None,
            payload={"flow_run_id": run_id},
        )

    def wait_final(self, run_id: Any, timeout: float = 30) -> models.FlowRunResponse:
        """The run once it is in a final state (or as it is after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.client.flow_runs.read(run_id)
            if run.state_type in FINAL or time.monotonic() > deadline:
                return run
            time.sleep(0.1)

    def pid(self, run_id: Any, timeout: float = 10) -> str:
        """The run's ``infrastructure_pid`` (a fast function may finish before it is recorded)."""
        deadline = time.monotonic() + timeout
        while True:
            pid = self.client.flow_runs.read(run_id).infrastructure_pid
            if pid or time.monotonic() > deadline:
                return str(pid)
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the worker (it closes its dispatcher) and delete the pool."""
        if self.worker is not None and self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self.worker.stop)
            self._thread.join(30)
            self._loop.close()
        self.client.work_pools.delete(self.pool)


@pytest.fixture
def deployments(client: Client, prefect_api_url: str) -> Iterator[Deployments]:
    """A fresh pool's worth of deployments (the test starts its worker with ``serve``)."""
    made = Deployments(client, prefect_api_url)
    try:
        yield made
    finally:
        if made.worker is not None:
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
