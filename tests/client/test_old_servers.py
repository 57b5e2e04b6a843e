"""Smoke suite against the older servers skiff was measured on: 3.6.x and 3.4.x.

Each server starts once for this module (its environment is cached under .cache; the
first run installs it). The checks: the version is read, what the server lacks raises
:class:`~skiff.UnsupportedByServerError` before sending, and the models decode its answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from scripts import prefect_server
from skiff.client import Client, UnsupportedByServerError
from skiff.client._generated import models

OLD_VERSIONS = ["3.4.25", "3.6.29"]
pytestmark = pytest.mark.server


@pytest.fixture(scope="module", params=OLD_VERSIONS)
def old_server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Client]]:
    """(version, a client on a fresh server of that version), one server per version."""
    version: str = request.param
    handle = prefect_server.start(version=version)
    try:
        with Client(handle.api_url) as client:
            yield version, client
    finally:
        handle.stop()


@pytest.fixture
def uid() -> str:
    """A name suffix no other test uses."""
    return uuid.uuid4().hex[:12]


def test_version_is_read_from_the_server(old_server: tuple[str, Client]) -> None:
    version, client = old_server
    assert client.server_version() == version
    assert client.admin.read_version() == version


def test_bulk_calls(old_server: tuple[str, Client], uid: str) -> None:
    version, client = old_server
    flow = client.flows.create(name=f"old-{uid}")
    run = client.flow_runs.create(flow_id=flow.id, state={"type": "PENDING", "name": "Pending"})
    only_this = {"id": {"any_": [str(run.id)]}}
    cancelled = {"type": "CANCELLED", "name": "Cancelled"}
    if version == "3.4.25":
        with pytest.raises(UnsupportedByServerError, match=r"needs a Prefect server >= 3\.6\.29"):
            client.flow_runs.bulk_set_state(flow_runs=only_this, state=cancelled)
        with pytest.raises(UnsupportedByServerError, match=r"this server is 3\.4\.25"):
            client.flow_runs.bulk_delete(flow_runs=only_this)
        with pytest.raises(UnsupportedByServerError):
            client.deployments.bulk_delete()
    else:
        client.flow_runs.bulk_set_state(flow_runs=only_this, state=cancelled)
        assert client.flow_runs.read(run.id).state_type == "CANCELLED"
        deleted = client.flow_runs.bulk_delete(flow_runs=only_this)
        assert deleted is not None
    # Newer than both: the admin storage routes arrived after 3.6.29.
    with pytest.raises(UnsupportedByServerError, match=r">= 3\.9\.1"):
        client.admin.read_storage()


def test_runs_and_states_decode(old_server: tuple[str, Client], uid: str) -> None:
    _, client = old_server
    flow = client.flows.create(name=f"old-runs-{uid}", tags=["skiff"])
    assert client.flows.read(flow.id).name == flow.name
    run = client.flow_runs.create(flow_id=flow.id, name=f"run-{uid}", parameters={"x": 1})
    answer = client.flow_runs.set_state(run.id, state={"type": "RUNNING", "name": "Running"})
    assert answer.status == "ACCEPT"
    task = client.task_runs.create(
        flow_run_id=run.id, task_key="t", dynamic_key="0", name=f"task-{uid}"
    )
    assert client.task_runs.read(task.id).flow_run_id == run.id
    client.logs.create(
        logs=[
            models.LogCreate(
                name="skiff",
                level=20,
                message="hello",
                timestamp=run.created or run.expected_start_time,
                flow_run_id=run.id,
            )
        ]
    )
    client.flow_runs.set_state(run.id, state={"type": "COMPLETED", "name": "Completed"})
    assert client.flow_runs.read(run.id).state_type == "COMPLETED"
    ids = {"id": {"any_": [str(run.id)]}}
    assert [r.id for r in client.flow_runs.filter(flow_runs=ids)] == [run.id]
    assert client.flow_runs.paginate(flow_runs=ids).count == 1


def test_deployments_pools_and_lookups(old_server: tuple[str, Client], uid: str) -> None:
    _, client = old_server
    flow = client.flows.create(name=f"old-dep-{uid}")
    pool = client.work_pools.create(name=f"pool-{uid}", type="skiff")
    assert client.work_pools.read(pool.name).id == pool.id
    deployment = client.deployments.create(
        name=f"dep-{uid}", flow_id=flow.id, work_pool_name=pool.name
    )
    assert client.deployments.read_by_name(flow.name, f"dep-{uid}").id == deployment.id
    run = client.deployments.run(f"{flow.name}/dep-{uid}", parameters={})
    assert run.deployment_id == deployment.id

    client.variables.create(name=f"old_{uid}", value=[1, 2])
    assert client.variables.get(f"old_{uid}") == [1, 2]
    assert client.variables.get(f"none_{uid}", "d") == "d"
    gcl = client.concurrency_limits_v2.upsert(f"gcl-{uid}", 2)
    assert client.concurrency_limits_v2.upsert(f"gcl-{uid}", 4).limit == 4
    client.concurrency_limits_v2.delete(gcl.id)

    block_type = client.block_types.create(name=f"old-bt-{uid}", slug=f"old-bt-{uid}")
    schema = client.block_schemas.create(
        block_type_id=block_type.id,
        fields={"title": "S", "type": "object", "properties": {"x": {"type": "string"}}},
        capabilities=[],
    )
    latest = client.block_schemas.read_latest(block_type.slug)
    assert latest is not None and latest.id == schema.id
    client.block_documents.create(
        name=f"doc-{uid}", data={"x": "1"}, block_schema_id=schema.id, block_type_id=block_type.id
    )
    assert client.block_documents.read_by_name(f"doc-{uid}", block_type.slug).data == {"x": "1"}

    trigger = models.EventTriggerInput(posture="Reactive", expect=[f"skiff.{uid}"], threshold=1)
    auto = client.automations.create(
        name=f"auto-{uid}", trigger=trigger, actions=[models.DoNothing()]
    )
    assert [a.id for a in client.automations.read_by_name(f"auto-{uid}")] == [auto.id]


def test_listings_decode(old_server: tuple[str, Client]) -> None:
    _, client = old_server
    # Every listing's answer goes through the 3.9.1 models without a decode failure.
    client.flows.filter(limit=5)
    client.flow_runs.filter(limit=5)
    client.task_runs.filter(limit=5)
    client.deployments.filter(limit=5)
    client.work_pools.filter(limit=5)
    client.work_queues.filter(limit=5)
    client.block_types.filter(limit=5)
    client.block_schemas.filter(limit=5)
    client.block_documents.filter(limit=5)
    client.artifacts.filter(limit=5)
    client.variables.filter(limit=5)
    client.concurrency_limits_v2.filter(limit=5)
    client.automations.filter(limit=5)
    client.logs.filter(limit=5)
    client.events.filter(limit=5)
    client.root.health()
