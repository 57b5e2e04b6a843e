"""A busy SQLite server answers concurrent writes with 503; the client must outlast it.

About 40-80 s: the creates wait out the server's lock contention (up to ~62 s of backoff each).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from skiff.client import AsyncClient

pytestmark = pytest.mark.server

CONCURRENT = 200


@pytest.mark.anyio
async def test_regression_12_200_concurrent_creates_all_succeed(prefect_api_url: str) -> None:
    async with AsyncClient(prefect_api_url) as client:
        flow = await client.flows.create(name=f"busy-{uuid.uuid4().hex[:12]}")
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.flow_runs.create(flow_id=flow.id) for _ in range(CONCURRENT)),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    # The old 15.5 s budget lost 64 of 200 here. On a loaded 2-core machine prefect-client
    # itself loses a few (196/200 in benchmarks/bench_busy_creates.py), so allow 2%.
    assert len(failures) <= CONCURRENT // 50, (
        f"{len(failures)}/{CONCURRENT} failed in {elapsed:.1f} s: {failures[0]!r}"
    )
    created = [r.id for r in results if not isinstance(r, BaseException)]
    assert len(set(created)) == len(created)
