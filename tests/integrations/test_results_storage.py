"""Where records go and how writers of one key are kept apart: ``result_storage_key``
templates, ``refresh_cache``, write-once commits on S3 and local folders, and the server's
default result storage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiff import flow, task
from skiff._engine._result_storage import resolve_storage
from skiff._engine._results import write_record
from tests.integrations._results_support import run_skiff, s3_block


def test_storage_key_templates_name_the_record(api_env: str, tmp_path: Path) -> None:
    calls: list[int] = []

    @task(
        result_storage_key="{task_run.task_name}-{parameters[x]}-{flow_run.name}",
        result_storage=str(tmp_path),
    )
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @flow(flow_run_name="night-{day}")
    def nightly(day: str) -> list[tuple[str, int]]:
        states = [square(3, return_state=True), square(3, return_state=True)]
        return [(s.name, s.result()) for s in states]

    assert nightly("mon") == [("Completed", 9), ("Cached", 9)]
    assert nightly("tue") == [("Completed", 9), ("Cached", 9)]  # another flow run name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "square-3-night-mon",
        "square-3-night-tue",
    ]
    assert calls == [3, 3]


def _racing(storage: Any, **options: Any) -> Any:
    """A task during whose call another writer commits the same key."""

    @task(cache_key_fn=lambda ctx, params: "shared", result_storage=storage, **options)
    def contended() -> dict[str, str]:
        write_record({"by": "the other run"}, resolve_storage(storage), key="shared")
        return {"by": "this run"}

    @flow
    def run() -> tuple[str, Any]:
        state = contended(return_state=True)
        return state.name, state.result()

    return run


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_the_first_commit_wins_and_refresh_cache_replaces_it(
    kind: str, api_env: str, aws_env: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = str(tmp_path) if kind == "local" else s3_block(aws_env, s3_bucket, "race")
    # The run keeps its own value; the store keeps the record committed first.
    assert _racing(storage)() == ("Completed", {"by": "this run"})
    stored = resolve_storage(storage).read("shared")
    assert stored is not None and json.loads(json.loads(stored)["result"]) == {
        "by": "the other run"
    }
    # refresh_cache writes last, whatever is there (READ_COMMITTED).
    assert _racing(storage, refresh_cache=True)() == ("Completed", {"by": "this run"})
    stored = resolve_storage(storage).read("shared")
    assert stored is not None and json.loads(json.loads(stored)["result"]) == {"by": "this run"}


def test_s3_create_path_is_conditional(aws_env: str, s3_bucket: str) -> None:
    bucket = s3_block(aws_env, s3_bucket, "once")
    assert bucket.create_path("k", b"first") is True
    assert bucket.create_path("k", b"second") is False
    assert bucket.read_path("k") == b"first"


@pytest.fixture
def server_default(api_env: str, aws_env: str, s3_bucket: str) -> Iterator[Any]:
    """An S3Bucket block saved and set as the server's default result storage (then cleared)."""
    block = s3_block(aws_env, s3_bucket, "default")
    block.save(f"default-{uuid.uuid4().hex[:10]}")
    with httpx.Client(base_url=api_env, timeout=30) as http:
        body = {"default_result_storage_block_id": str(block._block_document_id)}
        http.put("/admin/storage", json=body).raise_for_status()
        try:
            yield block
        finally:
            http.delete("/admin/storage").raise_for_status()
            block._delete_saved()


def test_the_servers_default_storage_is_used_when_none_is_set(
    server_default: Any, tmp_path: Path
) -> None:
    script = """
    import json
    from skiff import flow, flush, task

    @task(cache_key_fn=lambda ctx, params: "by-default", persist_result=True)
    def answer() -> int:
        return 42

    @flow
    def defaulted() -> int:
        return answer()

    assert defaulted() == 42
    assert flush(10)
    print(json.dumps(True))
    """
    run_skiff(script, {"PREFECT_HOME": str(tmp_path / "home")})
    record = json.loads(server_default.read_path("by-default"))
    assert json.loads(record["result"]) == 42
    assert record["metadata"]["storage_key"] == "by-default"
    assert record["metadata"]["storage_block_id"] == str(server_default._block_document_id)
    assert not (tmp_path / "home" / "storage").exists()


def test_a_flow_with_result_storage_persists_itself_and_its_tasks(
    api_env: str, tmp_path: Path
) -> None:
    @task
    def plain(x: int) -> int:
        return x + 1

    @flow(result_storage=str(tmp_path))  # persist_result unset: True, as in Prefect
    def stored() -> int:
        return plain(1)

    state = stored(return_state=True)
    assert state.result() == 2
    records = [json.loads(p.read_bytes()) for p in tmp_path.iterdir()]
    # The task's (keyed by the default policy) and the flow's (a random key).
    assert sorted(json.loads(r["result"]) for r in records) == [2, 2]
    assert {r["metadata"]["serializer"]["type"] for r in records} == {"json"}
