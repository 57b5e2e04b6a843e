"""Every resource group against the real Prefect 3.9.1 server, with the sync and async clients.

Names carry a per-test uuid, and every bulk operation filters on ids this test created, so
tests of other engineers on the same server are never touched. Left out on purpose: nothing;
``DELETE /admin/storage`` and ``PUT /admin/storage`` run only when no default result storage
is configured, and the test puts that state back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid

import pytest

from skiff.client import (
    APIStatusError,
    AsyncClient,
    Client,
    NotFoundError,
    UnprocessableEntityError,
    ValidationError,
    WaitTimeoutError,
)
from skiff.client._constants import SERVER_VERSION
from skiff.client._generated import models

pytestmark = pytest.mark.server


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ids(*values: uuid.UUID) -> dict[str, dict[str, list[str]]]:
    """A ``{"id": {"any_": [...]}}`` filter: bulk calls never reach beyond this test's objects."""
    return {"id": {"any_": [str(v) for v in values]}}


def test_root_admin_and_capabilities(client: Client) -> None:
    assert client.root.health() is True
    assert client.root.hello() == "👋"
    client.root.ready()
    assert client.root.version().count(".") == 2
    assert client.admin.read_version() == SERVER_VERSION
    settings = client.admin.read_settings()
    assert isinstance(settings, models.Settings)
    assert isinstance(client.block_capabilities.read(), list)
    # CSRF protection is off on the test server, which the endpoint reports as 422.
    with pytest.raises(UnprocessableEntityError):
        client.root.csrf_token(client="skiff-test")
    assert isinstance(client.observed_states.read(limit=5), list)
    # The server fetches this view from the internet, which the sandbox may lack.
    with contextlib.suppress(APIStatusError):
        client.collections.read_view_content("aggregate-worker-metadata")


def test_flows(client: Client, uid: str) -> None:
    flow = client.flows.create(name=f"skiff-flow-{uid}", tags=["skiff-test"])
    assert client.flows.read(flow.id).name == flow.name
    assert client.flows.read_by_name(flow.name).id == flow.id
    client.flows.update(flow.id, tags=["skiff-test", "updated"])
    assert "updated" in client.flows.read(flow.id).tags
    assert [f.id for f in client.flows.filter(flows=ids(flow.id))] == [flow.id]
    assert client.flows.count(flows=ids(flow.id)) == 1
    page = client.flows.paginate(flows=ids(flow.id), limit=10)
    assert page.count == 1 and page.results[0].id == flow.id
    assert [f.id for f in client.flows.iter_paginate(flows=ids(flow.id), page_size=1)] == [flow.id]
    other = client.flows.create(name=f"skiff-flow-{uid}-b")
    deleted = client.flows.bulk_delete(flows=ids(other.id))
    assert deleted.deleted == [other.id]
    client.flows.delete(flow.id)
    with pytest.raises(NotFoundError):
        client.flows.read(flow.id)


def test_flow_runs_and_states(client: Client, uid: str) -> None:
    flow = client.flows.create(name=f"skiff-runs-{uid}")
    runs = [
        client.flow_runs.create(flow_id=flow.id, name=f"run-{i}", tags=[f"t-{uid}"])
        for i in range(5)
    ]
    first = runs[0]
    assert first.idempotency_key  # generated, so a retried create is not a second run
    assert client.flow_runs.read(first.id).name == "run-0"
    client.flow_runs.update(first.id, name="renamed")
    assert client.flow_runs.read(first.id).name == "renamed"
    mine = ids(flow.id)
    assert client.flow_runs.count(flows=mine) == 5
    assert len(client.flow_runs.filter(flows=mine, limit=2)) == 2
    assert len(list(client.flow_runs.iter_filter(flows=mine, page_size=2))) == 5
    assert len(list(client.flow_runs.iter_paginate(flows=mine, page_size=2))) == 5
    assert client.flow_runs.paginate(flows=mine, limit=2, page=3).pages == 3
    history = client.flow_runs.history(
        history_start=now() - dt.timedelta(hours=1),
        history_end=now(),
        history_interval_seconds=600,
        flows=ids(flow.id),
    )
    assert history
    client.flow_runs.lateness(flows=ids(flow.id))

    result = client.flow_runs.set_state(first.id, state=models.StateCreate(type="RUNNING"))
    assert result.status == "ACCEPT"
    states = client.flow_run_states.read_all(flow_run_id=first.id)
    assert {s.type for s in states} >= {"PENDING", "RUNNING"}
    assert client.flow_run_states.read(states[0].id).id == states[0].id
    bulk = client.flow_runs.bulk_set_state(
        flow_runs=ids(runs[1].id), state=models.StateCreate(type="CANCELLED"), force=True
    )
    assert bulk.results[0].status == "ACCEPT"

    assert client.flow_runs.graph(first.id) == []
    assert client.flow_runs.graph_v2(first.id, since=now() - dt.timedelta(days=1)).nodes == []
    client.flow_runs.create_input(first.id, key="answer", value='"42"')
    assert client.flow_runs.read_input(first.id, "answer") == '"42"'  # stored as given
    assert [i.key for i in client.flow_runs.filter_input(first.id, prefix="ans")] == ["answer"]
    client.flow_runs.delete_input(first.id, "answer")
    client.flow_runs.update_labels(first.id, labels={"team": "skiff"})
    assert client.flow_runs.read(first.id).labels["team"] == "skiff"
    client.logs.create(
        logs=[
            models.LogCreate(
                name="skiff",
                level=20,
                message=f"hello {uid}",
                timestamp=now(),
                flow_run_id=first.id,
            )
        ]
    )
    logs = client.logs.filter(logs={"flow_run_id": {"any_": [str(first.id)]}})
    assert [log.message for log in logs] == [f"hello {uid}"]
    assert f"hello {uid}" in client.flow_runs.download_logs(first.id)
    # Not paused, so the server refuses to resume it; the call still goes through.
    assert client.flow_runs.resume(first.id).status in ("ABORT", "REJECT")

    client.flow_runs.set_state(first.id, state={"type": "COMPLETED"})
    assert client.flow_runs.wait(first.id, timeout=5, poll_interval=0.1).state_type == "COMPLETED"
    with pytest.raises(WaitTimeoutError):
        client.flow_runs.wait(runs[2].id, timeout=0.2, poll_interval=0.05)

    assert client.flow_runs.bulk_delete(flow_runs=ids(runs[3].id)).deleted == [runs[3].id]
    client.flow_runs.delete(runs[4].id)
    with pytest.raises(NotFoundError):
        client.flow_runs.read(runs[4].id)


def test_task_runs_and_ui(client: Client, uid: str) -> None:
    flow = client.flows.create(name=f"skiff-tasks-{uid}")
    run = client.flow_runs.create(flow_id=flow.id, state={"type": "RUNNING"})
    task = client.task_runs.create(
        flow_run_id=run.id, task_key=f"k-{uid}", dynamic_key="0", name=f"task-{uid}"
    )
    assert client.task_runs.read(task.id).name == f"task-{uid}"
    client.task_runs.update(task.id, name=f"task-{uid}-2")
    mine = {"flow_run_id": {"any_": [str(run.id)]}}
    assert [t.id for t in client.task_runs.filter(task_runs=mine)] == [task.id]
    assert [t.id for t in client.task_runs.iter_filter(task_runs=mine, page_size=1)] == [task.id]
    assert client.task_runs.count(task_runs=mine) == 1
    assert client.task_runs.paginate(task_runs=mine).count == 1
    client.task_runs.history(
        history_start=now() - dt.timedelta(hours=1),
        history_end=now(),
        history_interval_seconds=900,
        task_runs=mine,
    )
    assert client.task_runs.set_state(task.id, state={"type": "RUNNING"}).status == "ACCEPT"
    states = client.task_run_states.read_all(task_run_id=task.id)
    assert client.task_run_states.read(states[-1].id).id == states[-1].id
    assert client.task_workers.filter() is not None

    ui = client.ui
    assert ui.read_task_run(task.id).flow_run_name == run.name
    assert ui.count_task_runs_by_flow_run(flow_run_ids=[run.id])[str(run.id)] == 1
    assert isinstance(ui.flow_run_history(flows=ids(flow.id)), list)
    assert ui.count_deployments_by_flow(flow_ids=[flow.id])[str(flow.id)] == 0
    assert str(flow.id) in ui.next_runs_by_flow(flow_ids=[flow.id])
    assert ui.task_run_counts_by_state(task_runs=mine).RUNNING == 1
    ui.dashboard_task_run_counts(task_runs={"start_time": {"after_": now().isoformat()}})
    verdict = ui.validate_schema_values(
        schema={"type": "object", "properties": {"x": {"type": "integer"}}}, values={"x": "no"}
    )
    assert verdict.valid is False
    client.task_runs.delete(task.id)


def test_deployments_and_work_pools(client: Client, uid: str) -> None:
    flow = client.flows.create(name=f"skiff-dep-flow-{uid}")
    pool = client.work_pools.create(name=f"skiff-pool-{uid}", type="process")
    assert client.work_pools.read(pool.name).id == pool.id
    client.work_pools.update(pool.name, description="skiff")
    assert [p.id for p in client.work_pools.filter(work_pools=ids(pool.id))] == [pool.id]
    assert client.work_pools.count(work_pools=ids(pool.id)) == 1
    client.work_pools.read_concurrency_status(pool.name)
    queue = client.work_pools.create_work_queue(pool.name, name=f"q-{uid}")
    assert client.work_pools.read_work_queue(pool.name, queue.name).id == queue.id
    client.work_pools.update_work_queue(pool.name, queue.name, new_name=f"q2-{uid}")
    assert {q.name for q in client.work_pools.filter_work_queues(pool.name)} >= {f"q2-{uid}"}
    client.work_pools.worker_heartbeat(pool.name, name=f"w-{uid}")
    assert [w.name for w in client.work_pools.filter_workers(pool.name)] == [f"w-{uid}"]
    client.work_pools.delete_worker(pool.name, f"w-{uid}")

    dep = client.deployments.create(
        name=f"dep-{uid}", flow_id=flow.id, work_pool_name=pool.name, parameters={"x": 1}
    )
    assert client.deployments.read(dep.id).name == dep.name
    assert client.deployments.read_by_name(flow.name, dep.name).id == dep.id
    client.deployments.update(dep.id, description="skiff")
    assert [d.id for d in client.deployments.filter(deployments=ids(dep.id))] == [dep.id]
    assert client.deployments.count(deployments=ids(dep.id)) == 1
    assert client.deployments.paginate(deployments=ids(dep.id)).count == 1
    assert [d.id for d in client.deployments.iter_paginate(deployments=ids(dep.id))] == [dep.id]
    client.deployments.work_queue_check(dep.id)  # deprecated in the spec, still served
    run = client.deployments.create_flow_run(dep.id, parameters={"x": 2})
    assert run.parameters == {"x": 2} and run.idempotency_key
    runs = client.deployments.bulk_create_flow_runs(dep.id, flow_runs=[{"parameters": {"x": 3}}])
    assert len(runs.results) == 1
    started = client.deployments.run(f"{flow.name}/{dep.name}", parameters={"x": 4})
    assert started.deployment_id == dep.id
    with pytest.raises(ValidationError):
        client.deployments.run("no-slash")

    schedules = client.deployments.create_schedules(
        dep.id, schedules=[{"schedule": {"interval": 3600}, "active": False}]
    )
    client.deployments.update_schedule(dep.id, schedules[0].id, active=False)
    assert [s.id for s in client.deployments.read_schedules(dep.id)] == [schedules[0].id]
    client.deployments.schedule(dep.id, max_runs=1)
    client.deployments.pause(dep.id)
    client.deployments.resume(dep.id)
    client.deployments.pause(dep.id)
    client.deployments.delete_schedule(dep.id, schedules[0].id)
    client.deployments.get_scheduled_flow_runs(deployment_ids=[dep.id], limit=1)
    client.work_pools.get_scheduled_flow_runs(pool.name, limit=1)

    queue_v1 = client.work_queues.create(name=f"wq-{uid}")
    assert client.work_queues.read(queue_v1.id).name == queue_v1.name
    assert client.work_queues.read_by_name(queue_v1.name).id == queue_v1.id
    client.work_queues.update(queue_v1.id, description="skiff")
    assert [q.id for q in client.work_queues.filter(work_queues=ids(queue_v1.id))] == [queue_v1.id]
    client.work_queues.read_concurrency_status(queue_v1.id)
    assert client.work_queues.read_runs(queue_v1.id, limit=1) == []
    assert client.work_queues.read_status(queue_v1.id).healthy in (True, False)
    client.work_queues.delete(queue_v1.id)

    other = client.deployments.create(name=f"dep-{uid}-b", flow_id=flow.id)
    assert client.deployments.bulk_delete(deployments=ids(other.id)).deleted == [other.id]
    client.deployments.delete(dep.id)
    client.work_pools.delete_work_queue(pool.name, f"q2-{uid}")
    client.work_pools.delete(pool.name)


def test_blocks_and_admin_storage(client: Client, uid: str) -> None:
    client.block_types.install_system()
    block_type = client.block_types.create(name=f"skiff-type-{uid}", slug=f"skiff-type-{uid}")
    assert client.block_types.read(block_type.id).slug == block_type.slug
    assert client.block_types.read_by_slug(block_type.slug).id == block_type.id
    client.block_types.update(block_type.id, description="skiff")
    assert [
        b.id for b in client.block_types.filter(block_types={"slug": {"any_": [block_type.slug]}})
    ] == [block_type.id]
    schema = client.block_schemas.create(
        block_type_id=block_type.id,
        fields={"title": "S", "type": "object", "properties": {"x": {"type": "string"}}},
        capabilities=[],
    )
    assert client.block_schemas.read(schema.id).checksum == schema.checksum
    assert client.block_schemas.read_by_checksum(schema.checksum).id == schema.id
    assert [s.id for s in client.block_schemas.filter(block_schemas=ids(schema.id))] == [schema.id]
    doc = client.block_documents.create(
        name=f"doc-{uid}", data={"x": "1"}, block_schema_id=schema.id, block_type_id=block_type.id
    )
    assert client.block_documents.read(doc.id).data == {"x": "1"}
    client.block_documents.update(doc.id, data={"x": "2"})
    assert [d.id for d in client.block_documents.filter(block_documents=ids(doc.id))] == [doc.id]
    assert client.block_documents.count(block_documents=ids(doc.id)) == 1
    assert [d.id for d in client.block_types.read_block_documents(block_type.slug)] == [doc.id]
    assert client.block_types.read_block_document_by_name(block_type.slug, doc.name).data == {
        "x": "2"
    }

    current = client.admin.read_storage()
    if current.default_result_storage_block_id is None:
        local = client.block_types.read_by_slug("local-file-system")
        local_schema = client.block_schemas.filter(
            block_schemas={"block_type_id": {"any_": [str(local.id)]}}
        )[0]
        storage = client.block_documents.create(
            name=f"storage-{uid}",
            data={"basepath": "/tmp"},
            block_schema_id=local_schema.id,
            block_type_id=local.id,
        )
        updated = client.admin.update_storage(default_result_storage_block_id=storage.id)
        assert updated.default_result_storage_block_id == storage.id
        client.admin.clear_storage()
        assert client.admin.read_storage().default_result_storage_block_id is None
        client.block_documents.delete(storage.id)

    client.block_documents.delete(doc.id)
    client.block_schemas.delete(schema.id)
    client.block_types.delete(block_type.id)


def test_variables_artifacts_saved_searches(client: Client, uid: str) -> None:
    var = client.variables.create(name=f"skiff_var_{uid}", value={"a": 1})
    assert client.variables.read(var.id).value == {"a": 1}
    assert client.variables.read_by_name(var.name).id == var.id
    client.variables.update(var.id, value=2)
    client.variables.update_by_name(var.name, value=3)
    assert client.variables.read(var.id).value == 3
    assert [v.id for v in client.variables.filter(variables=ids(var.id))] == [var.id]
    assert client.variables.count(variables=ids(var.id)) == 1
    client.variables.delete(var.id)
    other = client.variables.create(name=f"skiff_var_{uid}_b", value="x")
    client.variables.delete_by_name(other.name)

    key = f"skiff-art-{uid}"
    art = client.artifacts.create(key=key, type="markdown", data="# hi")
    assert client.artifacts.read(art.id).key == key
    client.artifacts.update(art.id, description="skiff")
    assert [a.id for a in client.artifacts.filter(artifacts=ids(art.id))] == [art.id]
    assert client.artifacts.count(artifacts=ids(art.id)) == 1
    latest = {"key": {"any_": [key]}}
    assert [a.key for a in client.artifacts.filter_latest(artifacts=latest)] == [key]
    assert client.artifacts.count_latest(artifacts=latest) == 1
    assert client.artifacts.read_latest(key).key == key
    client.artifacts.delete(art.id)

    search = client.saved_searches.create(name=f"skiff-search-{uid}", filters=[])
    assert client.saved_searches.read(search.id).name == search.name
    assert search.id in {s.id for s in client.saved_searches.filter(limit=200)}
    client.saved_searches.delete(search.id)


def test_concurrency_limits(client: Client, uid: str) -> None:
    tag = f"skiff-tag-{uid}"
    limit = client.concurrency_limits.create(tag=tag, concurrency_limit=2)
    assert client.concurrency_limits.read(limit.id).tag == tag
    assert client.concurrency_limits.read_by_tag(tag).id == limit.id
    assert limit.id in {c.id for c in client.concurrency_limits.filter(limit=200)}
    task_run_id = uuid.uuid4()
    client.concurrency_limits.increment(names=[tag], task_run_id=task_run_id)
    client.concurrency_limits.decrement(names=[tag], task_run_id=task_run_id)
    client.concurrency_limits.reset_by_tag(tag)
    client.concurrency_limits.delete_by_tag(tag)
    again = client.concurrency_limits.create(tag=tag, concurrency_limit=1)
    client.concurrency_limits.delete(again.id)

    name = f"skiff-gcl-{uid}"
    gcl = client.concurrency_limits_v2.create(name=name, limit=3)
    assert client.concurrency_limits_v2.read(gcl.id).name == name
    client.concurrency_limits_v2.update(name, limit=4)
    assert client.concurrency_limits_v2.read(name).limit == 4
    assert name in {c.name for c in client.concurrency_limits_v2.filter(limit=200)}
    client.concurrency_limits_v2.bulk_increment_active_slots(
        names=[name], slots=1, mode="concurrency"
    )
    client.concurrency_limits_v2.bulk_decrement_active_slots(names=[name], slots=1)
    lease = client.concurrency_limits_v2.bulk_increment_active_slots_with_lease(
        names=[name], slots=1, lease_duration=60
    )
    client.concurrency_limits_v2.renew_lease(lease.lease_id, lease_duration=60)
    client.concurrency_limits_v2.bulk_decrement_active_slots_with_lease(lease_id=lease.lease_id)
    client.concurrency_limits_v2.delete(gcl.id)


def test_automations_and_events(client: Client, uid: str) -> None:
    trigger = models.EventTriggerInput(posture="Reactive", expect=[f"skiff.{uid}"], threshold=1)
    auto = client.automations.create(
        name=f"skiff-auto-{uid}",
        trigger=trigger,
        actions=[models.DoNothing()],
        owner_resource=f"skiff.owner.{uid}",
    )
    assert isinstance(auto.trigger, models.EventTriggerOutput)
    assert isinstance(auto.actions[0], models.DoNothing)
    assert client.automations.read(auto.id).name == auto.name
    client.automations.update(
        auto.id, name=f"skiff-auto-{uid}-2", trigger=trigger, actions=[models.DoNothing()]
    )
    client.automations.patch(auto.id, enabled=False)
    assert client.automations.read(auto.id).enabled is False
    assert auto.id in {a.id for a in client.automations.filter(limit=200)}
    assert client.automations.count() >= 1
    client.automations.read_related_to_resource(f"skiff.owner.{uid}")
    client.automations.validate_template(template="{{ event.event }}")
    client.automations.validate_template_legacy(template="{{ event.event }}")
    client.automations.delete(auto.id)
    client.automations.create(
        name=f"skiff-auto-{uid}-b",
        trigger=trigger,
        actions=[models.DoNothing()],
        owner_resource=f"skiff.owner.{uid}",
    )
    client.automations.delete_owned_by_resource(f"skiff.owner.{uid}")

    resource = {"prefect.resource.id": f"skiff.test.{uid}"}
    client.events.create(
        events=[
            models.Event(
                id=uuid.uuid4(), occurred=now(), event=f"skiff.test.{i}", resource=resource
            )
            for i in range(3)
        ]
    )
    flt = {
        "resource": {"id": [f"skiff.test.{uid}"]},
        "occurred": {"since": (now() - dt.timedelta(hours=1)).isoformat()},
    }
    seen: list[models.ReceivedEvent] = []
    for _ in range(50):  # events are written by a background service; wait for them
        seen = list(client.events.iter_filter(filter=flt, limit=1))
        if len(seen) == 3:
            break
        time.sleep(0.1)
    assert sorted(e.event for e in seen) == ["skiff.test.0", "skiff.test.1", "skiff.test.2"]
    page = client.events.filter(filter=flt, limit=1)
    assert page.total == 3 and page.next_page
    counts = client.events.count_by("event", filter=flt)
    assert sum(c.count for c in counts) == 3


@pytest.mark.anyio
async def test_async_client_end_to_end(prefect_api_url: str, uid: str) -> None:
    async with AsyncClient(prefect_api_url) as client:
        assert await client.root.health() is True
        flow = await client.flows.create(name=f"skiff-async-{uid}")
        run = await client.flow_runs.create(flow_id=flow.id, state={"type": "RUNNING"})
        assert (await client.flow_runs.read(run.id)).state_type == "RUNNING"
        found = [r.id async for r in client.flow_runs.iter_filter(flows=ids(flow.id), page_size=1)]
        assert found == [run.id]
        await client.flow_runs.set_state(run.id, state=models.StateCreate(type="COMPLETED"))
        done = await client.flow_runs.wait(run.id, timeout=5, poll_interval=0.05)
        assert done.state_type == "COMPLETED"
        dep = await client.deployments.create(name=f"adep-{uid}", flow_id=flow.id)
        started = await client.deployments.run(f"{flow.name}/{dep.name}", parameters={"n": 1})
        assert started.parameters == {"n": 1}
        raw = await client.request("GET", f"/flows/{flow.id}")
        assert raw.json()["name"] == flow.name
        await client.deployments.delete(dep.id)
        await client.flows.delete(flow.id)


def test_bad_arguments_fail_before_sending(client: Client) -> None:
    with pytest.raises(ValidationError, match="limit"):
        client.flow_runs.filter(limit="ten")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="id"):
        client.flow_runs.read("not-a-uuid")
    with pytest.raises(ValidationError, match=r"flows\.id\.any_"):
        client.flow_runs.count(flows={"id": {"any_": ["nope"]}})  # type: ignore[arg-type]
