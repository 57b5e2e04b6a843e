"""SERIALIZABLE cache policies on S3 (moto) and local folders: overlapping runs of one key call
the function once (the other waits on the key's lock, then is Cached on the server), a
crashed holder's lock is taken over, and a lock held too long means the task runs, warned."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from skiff import flow, task
from skiff.cache_policies import INPUTS, CachePolicy
from skiff.runtime import flow_run
from tests.integrations._results_support import s3_block, task_runs_of

SERIALIZABLE = INPUTS.configure(isolation_level="SERIALIZABLE")


def _keyed(key: str) -> Any:
    return CachePolicy.from_cache_key_fn(lambda ctx, p: key).configure(
        isolation_level="SERIALIZABLE"
    )


def _storage(kind: str, tmp_path: Path, moto: str, bucket: str) -> Any:
    return str(tmp_path) if kind == "local" else s3_block(moto, bucket, "locks")


def _lock_names(kind: str, tmp_path: Path, storage: Any) -> list[str]:
    if kind == "local":
        return sorted(p.name for p in tmp_path.rglob("*") if ".lock" in p.name)
    listed = storage._client().list_objects_v2(Bucket=storage.bucket_name)
    return sorted(o["Key"] for o in listed.get("Contents", []) if ".lock" in o["Key"])


def _put_lock(kind: str, tmp_path: Path, storage: Any, key: str, expires: float) -> bytes:
    body = json.dumps({"holder": "skiff:1:gone", "expires": expires}).encode()
    if kind == "local":
        (tmp_path / f"{key}.lock").write_bytes(body)
    else:
        storage.write_path(f"{key}.lock", body)
    return body


def _read_lock(kind: str, tmp_path: Path, storage: Any, key: str) -> bytes:
    if kind == "local":
        return (tmp_path / f"{key}.lock").read_bytes()
    content: bytes = storage.read_path(f"{key}.lock")
    return content


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_overlapping_runs_of_one_key_call_the_function_once(
    kind: str, api_env: str, aws_env: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = _storage(kind, tmp_path, aws_env, s3_bucket)
    calls: list[int] = []

    @task(cache_policy=SERIALIZABLE, result_storage=storage, persist_result=True)
    def slow_square(x: int) -> int:
        calls.append(x)
        time.sleep(0.5)  # the other run is waiting on the lock meanwhile
        return x * x

    @flow
    def race() -> tuple[list[tuple[str, int]], str]:
        futures = [slow_square.submit(4), slow_square.submit(4)]
        for future in futures:
            future.wait()
        return [(f.state.name, f.result()) for f in futures], flow_run.id

    outcomes, run_id = race()
    assert calls == [4]
    assert sorted(outcomes) == [("Cached", 16), ("Completed", 16)]
    runs = task_runs_of(api_env, run_id, 2)
    assert sorted(r["state_name"] for r in runs) == ["Cached", "Completed"]
    assert _lock_names(kind, tmp_path, storage) == []


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_crashed_holders_lock_is_taken_over(
    kind: str, api_env: str, aws_env: str, s3_bucket: str, tmp_path: Path
) -> None:
    storage = _storage(kind, tmp_path, aws_env, s3_bucket)

    @task(cache_policy=_keyed("stale"), result_storage=storage, persist_result=True)
    def once() -> str:
        return "ran"

    _put_lock(kind, tmp_path, storage, "stale", expires=time.time() - 1)

    @flow
    def run() -> tuple[str, str]:
        state = once(return_state=True)
        return state.name, state.result()

    started = time.monotonic()
    assert run() == ("Completed", "ran")
    assert time.monotonic() - started < 5
    assert _lock_names(kind, tmp_path, storage) == []


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_lock_held_past_the_wait_lets_the_task_run_with_a_warning(
    kind: str,
    api_env: str,
    aws_env: str,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = _storage(kind, tmp_path, aws_env, s3_bucket)
    monkeypatch.setenv("SKIFF_CACHE_LOCK_WAIT_SECONDS", "0.4")

    @task(cache_policy=_keyed("busy"), result_storage=storage, persist_result=True)
    def anyway() -> str:
        return "ran"

    held = _put_lock(kind, tmp_path, storage, "busy", expires=time.time() + 600)

    @flow
    def run() -> tuple[str, str]:
        state = anyway(return_state=True)
        return state.name, state.result()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert run() == ("Completed", "ran")
    assert 0.4 <= time.monotonic() - started < 5
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'busy' was still held by another run after 0.4 seconds" in m for m in warned)
    # Another holder's lock is left alone.
    assert _read_lock(kind, tmp_path, storage, "busy") == held


class ThreadLockManager:
    """A user's lock manager with Prefect's protocol (``prefect.locking.protocol``), in memory."""

    def __init__(self) -> None:
        self.locks: dict[str, threading.Lock] = {}
        self.holders: dict[str, str] = {}
        self.acquired: list[str] = []

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        lock = self.locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=-1 if acquire_timeout is None else acquire_timeout):
            return False
        self.holders[key] = holder
        self.acquired.append(key)
        return True

    def release_lock(self, key: str, holder: str) -> None:
        assert self.holders.pop(key) == holder
        self.locks[key].release()


def test_a_policys_lock_manager_is_used_instead_of_the_storages_lock(
    api_env: str, tmp_path: Path
) -> None:
    manager = ThreadLockManager()
    policy = INPUTS.configure(isolation_level="SERIALIZABLE", lock_manager=manager)
    calls: list[int] = []

    @task(cache_policy=policy, result_storage=str(tmp_path), persist_result=True)
    def slow_double(x: int) -> int:
        calls.append(x)
        time.sleep(0.3)
        return 2 * x

    @flow
    def race() -> list[tuple[str, int]]:
        futures = [slow_double.submit(5), slow_double.submit(5)]
        for future in futures:
            future.wait()
        return [(f.state.name, f.result()) for f in futures]

    assert sorted(race()) == [("Cached", 10), ("Completed", 10)]
    assert calls == [5]
    assert len(manager.acquired) == 2 and manager.holders == {}
    assert _lock_names("local", tmp_path, None) == []


def test_async_runs_in_one_event_loop_do_not_wait_on_each_other(
    api_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    @task(cache_policy=SERIALIZABLE, result_storage=str(tmp_path), persist_result=True)
    async def slow_triple(x: int) -> int:
        await asyncio.sleep(0.3)  # the other run of the key starts meanwhile
        return 3 * x

    @flow
    async def gathered() -> list[int]:
        return list(await asyncio.gather(slow_triple(2), slow_triple(2)))

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(gathered()) == [6, 6]
    # A blocking wait would have stopped the holder too, until the wait ran out.
    assert time.monotonic() - started < 5
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("held by another run in this thread" in m for m in warned)
    assert _lock_names("local", tmp_path, None) == []
