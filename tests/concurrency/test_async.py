"""``skiff.concurrency.asyncio`` against the real Prefect 3.9.1 server, through a recording proxy."""

from __future__ import annotations

import asyncio
import time

import pytest

from skiff.concurrency.asyncio import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencyLeaseLostError,
    ConcurrencySlotAcquisitionError,
    concurrency,
    rate_limit,
)
from tests.concurrency.conftest import Limits, RecordingProxy

pytestmark = pytest.mark.server

LEASE = "/api/v2/concurrency_limits/increment-with-lease"
RELEASE = "/api/v2/concurrency_limits/decrement-with-lease"


def test_slots_are_held_and_released(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 2)

    async def main() -> int:
        async with concurrency(db, occupy=2):
            return limits.active(db)

    assert asyncio.run(main()) == 2
    assert limits.active(db) == 0
    paths = [r["path"] for r in recorder.slot_requests()]
    assert paths[0] == LEASE and paths[-1] == RELEASE


def test_a_body_that_raises_still_releases(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)

    async def main() -> None:
        async with concurrency(db):
            raise KeyError("the body failed")

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert limits.active(db) == 0


def test_tasks_beyond_the_limit_wait(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    inside: list[int] = []
    most = 0

    async def worker(n: int) -> None:
        nonlocal most
        async with concurrency(db):
            inside.append(n)
            most = max(most, len(inside))
            await asyncio.sleep(0.05)
            inside.remove(n)

    async def main() -> None:
        await asyncio.gather(*(worker(n) for n in range(3)))

    asyncio.run(main())
    assert most == 1
    assert limits.active(db) == 0
    assert [r["status"] for r in recorder.slot_requests() if r["path"] == LEASE].count(200) == 3


def test_timeout_raises_a_typed_timeout_error(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    lease = limits.take(db)

    async def main() -> None:
        async with concurrency(db, timeout_seconds=0.5):
            pytest.fail("the body must not run")

    try:
        with pytest.raises(AcquireConcurrencySlotTimeoutError) as raised:
            asyncio.run(main())
        assert isinstance(raised.value, TimeoutError)
        assert "timed out after 0.5 second(s)" in str(raised.value)
    finally:
        limits.give_back(lease)


def test_rate_limit_and_missing_limits(limits: Limits, recorder: RecordingProxy) -> None:
    api = limits.make("api", 3, decay=1.0)
    gone = limits.missing("api")

    async def main() -> None:
        await rate_limit(api, occupy=2)
        await rate_limit(gone)
        with pytest.raises(ConcurrencySlotAcquisitionError, match="must be created before"):
            await rate_limit(gone, strict=True)

    asyncio.run(main())
    first = recorder.slot_requests()[0]
    assert first["body"] == {"names": [api], "slots": 2, "mode": "rate_limit"}


def test_a_cancelled_waiter_leaves_nothing_behind(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    lease = limits.take(db)

    async def main() -> None:
        waiting = asyncio.ensure_future(concurrency(db).__aenter__())
        while not any(r["status"] == 423 for r in recorder.slot_requests()):
            await asyncio.sleep(0.02)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    try:
        asyncio.run(main())
        assert limits.active(db) == 1  # the other holder's slot only
    finally:
        limits.give_back(lease)
    assert limits.active(db) == 0


def test_a_lease_granted_to_a_cancelled_caller_is_released(
    limits: Limits, recorder: RecordingProxy
) -> None:
    db = limits.make("db", 1)
    slow = recorder.add("delay", path="increment-with-lease", seconds=1.0)

    async def main() -> None:
        waiting = asyncio.ensure_future(concurrency(db).__aenter__())
        while slow.fired == 0:  # the request is on its way: the server will grant it
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
    recorder.wait_for(lambda r: r["path"] == RELEASE)
    deadline = time.monotonic() + 30
    while limits.active(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert limits.active(db) == 0


def test_a_lost_lease_cancels_the_body_when_asked(
    limits: Limits, recorder: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = limits.make("db", 1)
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
    recorder.add("reset_before", path="/renew$")

    async def main() -> None:
        async with concurrency(db, strict=True):  # strict: raise on renewal failure too
            await asyncio.sleep(60)
            pytest.fail("the body was not stopped")

    with pytest.raises(ConcurrencyLeaseLostError):
        asyncio.run(main())
    assert limits.active(db) == 0
