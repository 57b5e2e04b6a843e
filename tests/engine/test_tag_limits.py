"""A task run holds its tags' concurrency limits ("tag:<name>"), as Prefect's engine does."""

from __future__ import annotations

import itertools
import time
import uuid

import httpx
import pytest

import skiff
from skiff import flow, task

pytestmark = pytest.mark.server


def test_task_runs_wait_for_their_tag_limit(api_env: str) -> None:
    tag = f"db-{uuid.uuid4().hex[:8]}"
    http = httpx.Client(base_url=api_env, timeout=30)
    http.post("/v2/concurrency_limits/", json={"name": f"tag:{tag}", "limit": 1}).raise_for_status()
    spans: list[tuple[float, float]] = []

    @task(tags=[tag])
    def guarded(n: int) -> int:
        start = time.monotonic()
        time.sleep(0.3)
        spans.append((start, time.monotonic()))
        return n

    @flow
    def limited() -> list[int]:
        return guarded.map([1, 2, 3]).result()

    state = limited(return_state=True)
    assert state.result() == [1, 2, 3]
    spans.sort()
    # One slot: no two runs overlapped, although three were submitted at once.
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert skiff.flush(20)
    limit = http.get(f"/v2/concurrency_limits/tag:{tag}").json()
    assert limit["active_slots"] == 0
