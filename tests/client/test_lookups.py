"""The look-ups by name, against the real server; bad input gets a typed error naming the fix."""

from __future__ import annotations

import uuid

import pytest

from skiff.client import AsyncClient, Client, NotFoundError, ValidationError
from skiff.client._constants import SERVER_VERSION
from skiff.client._generated import models


def _block(client: Client, uid: str) -> tuple[models.BlockType, models.BlockSchema]:
    block_type = client.block_types.create(name=f"skiff-lk-{uid}", slug=f"skiff-lk-{uid}")
    schema = client.block_schemas.create(
        block_type_id=block_type.id,
        fields={"title": "S", "type": "object", "properties": {"x": {"type": "string"}}},
        capabilities=[],
    )
    return block_type, schema


def test_block_schema_read_latest_by_id_or_slug(client: Client, uid: str) -> None:
    block_type, older = _block(client, uid)
    newer = client.block_schemas.create(
        block_type_id=block_type.id,
        fields={"title": "S", "type": "object", "properties": {"y": {"type": "integer"}}},
        capabilities=[],
        version="2",
    )
    for key in (block_type.id, str(block_type.id), block_type.slug):
        latest = client.block_schemas.read_latest(key)
        assert latest is not None and latest.id == newer.id != older.id
    empty = client.block_types.create(name=f"skiff-lk-e-{uid}", slug=f"skiff-lk-e-{uid}")
    assert client.block_schemas.read_latest(empty.slug) is None
    with pytest.raises(NotFoundError):
        client.block_schemas.read_latest(f"no-such-type-{uid}")
    with pytest.raises(ValidationError, match="block type id or slug"):
        client.block_schemas.read_latest("")


def test_block_document_read_by_name_in_prefects_order(client: Client, uid: str) -> None:
    block_type, schema = _block(client, uid)
    client.block_documents.create(
        name=f"doc-{uid}", data={"x": "1"}, block_schema_id=schema.id, block_type_id=block_type.id
    )
    doc = client.block_documents.read_by_name(f"doc-{uid}", block_type.slug)
    assert doc.data == {"x": "1"} and doc.name == f"doc-{uid}"
    with pytest.raises(NotFoundError):
        client.block_documents.read_by_name(f"nope-{uid}", block_type.slug)
    with pytest.raises(ValidationError, match="arguments: name, then slug"):
        client.block_documents.read_by_name(f"doc-{uid}", None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="True or False"):
        client.block_documents.read_by_name("a", "b", include_secrets="yes")  # type: ignore[arg-type]


def test_automation_read_by_name(client: Client, uid: str) -> None:
    trigger = models.EventTriggerInput(posture="Reactive", expect=[f"skiff.{uid}"], threshold=1)
    made = client.automations.create(
        name=f"skiff-lk-auto-{uid}", trigger=trigger, actions=[models.DoNothing()]
    )
    assert [a.id for a in client.automations.read_by_name(made.name)] == [made.id]
    assert client.automations.read_by_name(f"none-{uid}") == []
    with pytest.raises(ValidationError, match="automation's name"):
        client.automations.read_by_name(42)  # type: ignore[arg-type]
    client.automations.delete(made.id)


def test_global_concurrency_limit_upsert(client: Client, uid: str) -> None:
    name = f"skiff-lk-gcl-{uid}"
    created = client.concurrency_limits_v2.upsert(name, 3)
    assert (created.name, created.limit) == (name, 3)
    same = client.concurrency_limits_v2.upsert(name, 3)
    assert same.id == created.id
    updated = client.concurrency_limits_v2.upsert(name, 5, active=False)
    assert (updated.id, updated.limit, updated.active) == (created.id, 5, False)
    with pytest.raises(ValidationError, match="at least 0"):
        client.concurrency_limits_v2.upsert(name, -1)
    with pytest.raises(ValidationError, match="must be an int"):
        client.concurrency_limits_v2.upsert(name, "5")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="`name`"):
        client.concurrency_limits_v2.upsert("a/b", 1)
    client.concurrency_limits_v2.delete(created.id)


def test_variables_get_with_default(client: Client, uid: str) -> None:
    name = f"skiff_lk_{uid}"
    assert client.variables.get(name) is None
    assert client.variables.get(name, default={"d": 1}) == {"d": 1}
    client.variables.create(name=name, value={"a": [1, 2]})
    assert client.variables.get(name, "unused") == {"a": [1, 2]}
    with pytest.raises(ValidationError, match="variable's name"):
        client.variables.get("")
    client.variables.delete_by_name(name)


@pytest.mark.anyio
async def test_async_lookups(prefect_api_url: str) -> None:
    uid = uuid.uuid4().hex[:12]
    async with AsyncClient(prefect_api_url) as c:
        assert await c.variables.get(f"skiff_lk_async_{uid}", 7) == 7
        gcl = await c.concurrency_limits_v2.upsert(f"skiff-lk-agcl-{uid}", 2)
        assert gcl.limit == 2
        await c.concurrency_limits_v2.delete(gcl.id)
        assert await c.server_version() == SERVER_VERSION
