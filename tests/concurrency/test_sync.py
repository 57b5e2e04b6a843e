"""``skiff.concurrency.sync`` against the real Prefect 3.9.1 server, through a recording proxy.

What Prefect 3.9.1 sends is the reference (read from its sources and observed through the
same proxy, see test_prefect_parity.py): ``increment-with-lease`` with the names sorted,
a renewal at once, ``decrement-with-lease`` on exit; ``increment`` for rate limits.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from skiff.concurrency.sync import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencyContext,
    ConcurrencyLeaseLostError,
    ConcurrencySlotAcquisitionError,
    concurrency,
    hold,
    rate_limit,
)
from tests.concurrency.conftest import Limits, RecordingProxy, in_thread

pytestmark = pytest.mark.server

LEASE = "/api/v2/concurrency_limits/increment-with-lease"


def test_slots_are_held_renewed_and_released(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 3)
    api = limits.make("api", 2)
    with concurrency([db, api], occupy=2):
        assert limits.active(db) == 2 and limits.active(api) == 2
        recorder.wait_for(lambda r: r["path"].endswith("/renew"))
    assert limits.active(db) == 0 and limits.active(api) == 0
    first, renew, release = recorder.slot_requests()
    assert first["path"] == LEASE
    assert first["body"] == {
        "names": sorted([db, api]),
        "slots": 2,
        "mode": "concurrency",
        "lease_duration": 300,
    }
    lease_id = first["answer"]["lease_id"]
    assert renew["path"] == f"/api/v2/concurrency_limits/leases/{lease_id}/renew"
    assert renew["body"] == {"lease_duration": 300}
    assert release["path"] == "/api/v2/concurrency_limits/decrement-with-lease"
    assert release["body"] == {"lease_id": lease_id}


def test_a_body_that_raises_still_releases(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    boom = ValueError("the body failed")
    with pytest.raises(ValueError) as raised, concurrency(db):
        raise boom
    assert raised.value is boom
    assert limits.active(db) == 0


def test_holders_beyond_the_limit_wait(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    order: list[str] = []
    first_in = threading.Event()
    let_go = threading.Event()

    def first() -> None:
        with concurrency(db):
            order.append("first in")
            first_in.set()
            let_go.wait(30)
            order.append("first out")

    def second() -> None:
        with concurrency(db):
            order.append("second in")

    one, errors_one = in_thread(first)
    assert first_in.wait(30)
    two, errors_two = in_thread(second)
    recorder.wait_for(lambda r: r["path"] == LEASE and r["status"] == 423)
    assert order == ["first in"]  # refused while the first holds the only slot
    let_go.set()
    one.join(30)
    two.join(60)
    assert order == ["first in", "first out", "second in"]
    assert not errors_one and not errors_two
    assert limits.active(db) == 0


def test_timeout_raises_a_typed_timeout_error(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    lease = limits.take(db)
    try:
        with (
            pytest.raises(AcquireConcurrencySlotTimeoutError) as raised,
            concurrency(db, timeout_seconds=0.5),
        ):
            pytest.fail("the body must not run")
        assert isinstance(raised.value, TimeoutError)
        assert str(raised.value) == (
            "Attempt to acquire concurrency slots timed out after 0.5 second(s)"
        )
        assert limits.active(db) == 1  # only the other holder's slot
    finally:
        limits.give_back(lease)


def test_max_retries_gives_up_with_prefects_message(
    limits: Limits, recorder: RecordingProxy
) -> None:
    db = limits.make("db", 1)
    lease = limits.take(db)
    try:
        with (
            pytest.raises(ConcurrencySlotAcquisitionError) as raised,
            concurrency(db, max_retries=0),
        ):
            pytest.fail("the body must not run")
        assert (
            str(raised.value)
            == f"Unable to acquire concurrency slots on [{db!r}]: 423 Locked: Locked"
        )
        assert [r["status"] for r in recorder.slot_requests()] == [423]
    finally:
        limits.give_back(lease)


def test_server_refusals_keep_prefects_wording(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    with pytest.raises(ConcurrencySlotAcquisitionError) as raised, concurrency(db, occupy=2):
        pass
    assert str(raised.value) == (
        f"Unable to acquire concurrency slots on [{db!r}]: "
        "422 Unprocessable Entity: Slots requested is greater than the limit"
    )
    with pytest.raises(ConcurrencySlotAcquisitionError) as raised:
        rate_limit(db)
    assert str(raised.value) == (
        f"Unable to acquire concurrency slots on [{db!r}]: 422 Unprocessable Entity: Only "
        "concurrency limits with slot decay can be used for rate limiting. The following "
        f"limits do not have a decay configured: {db!r}"
    )


def test_missing_limits_warn_and_proceed_or_raise_with_strict(
    limits: Limits, recorder: RecordingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    gone = limits.missing("db")
    ran = []
    with caplog.at_level(logging.WARNING, logger="prefect.concurrency"), concurrency(gone):
        ran.append(True)
    assert ran == [True]
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "prefect.concurrency",
            logging.WARNING,
            f"Concurrency limits [{gone!r}] do not exist - skipping acquisition.",
        )
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="prefect.concurrency"):
        rate_limit(gone)  # outside a run Prefect says nothing for rate limits
    assert caplog.records == []
    for call in (
        lambda: concurrency(gone, strict=True).__enter__(),
        lambda: rate_limit(gone, strict=True),
    ):
        with pytest.raises(ConcurrencySlotAcquisitionError) as raised:
            call()
        assert str(raised.value) == (
            f"Concurrency limits [{gone!r}] must be created before acquiring slots"
        )
    # No release for a lease that holds nothing, as in Prefect.
    assert not any("decrement" in r["path"] for r in recorder.slot_requests())


def test_rate_limit_waits_for_slots_to_decay(limits: Limits, recorder: RecordingProxy) -> None:
    api = limits.make("api", 1, decay=2.0)
    rate_limit(api)
    rate_limit(api)  # the first slot has to decay first: refused once, then granted
    statuses = [r["status"] for r in recorder.slot_requests()]
    assert statuses[0] == 200 and statuses[-1] == 200 and 423 in statuses
    assert all(r["body"]["mode"] == "rate_limit" for r in recorder.slot_requests())
    assert all(
        r["path"] == "/api/v2/concurrency_limits/increment" for r in recorder.slot_requests()
    )


def test_holder_is_sent_with_the_lease(limits: Limits, recorder: RecordingProxy) -> None:
    db = limits.make("db", 1)
    run_id = uuid.uuid4()
    with concurrency(db, holder={"type": "flow_run", "id": run_id}, lease_duration=60):
        pass
    first = recorder.slot_requests()[0]
    assert first["body"]["holder"] == {"type": "flow_run", "id": str(run_id)}
    assert first["body"]["lease_duration"] == 60


def test_tag_limits_without_limits_are_remembered_briefly(
    limits: Limits, recorder: RecordingProxy
) -> None:
    tag = f"tag:{limits.missing('t')}"
    holder = {"type": "task_run", "id": uuid.uuid4()}
    for _ in range(3):
        with hold([tag], holder=holder, lease_duration=60, suppress_warnings=True):
            pass
    assert len(recorder.slot_requests()) == 1  # Prefect's 5-second no-limits cache


def _fail_renewals(recorder: RecordingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_CLIENT_MAX_RETRIES", "0")  # only the 3 renewal attempts
    recorder.add("reset_before", path="/renew$")


def test_a_lost_lease_stops_the_body_when_asked(
    limits: Limits, recorder: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = limits.make("db", 1)
    _fail_renewals(recorder, monkeypatch)
    deadline = time.monotonic() + 60
    with (
        pytest.raises(ConcurrencyLeaseLostError),
        concurrency(db, raise_on_lease_renewal_failure=True),
    ):
        while time.monotonic() < deadline:
            time.sleep(0.01)
        pytest.fail("the body was not stopped")
    assert limits.active(db) == 0


def test_a_lost_lease_is_logged_and_the_body_runs_on(
    limits: Limits,
    recorder: RecordingProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = limits.make("db", 1)
    _fail_renewals(recorder, monkeypatch)
    lost = (
        "Concurrency lease renewal failed - slots are no longer reserved. Execution will continue"
    )
    with caplog.at_level(logging.WARNING, logger="prefect.concurrency"), concurrency(db):
        deadline = time.monotonic() + 60
        while not any(lost in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no renewal failure was logged"
            time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Attempt 1 of function 'concurrency lease renewal' failed" in m for m in messages)
    assert "Function 'concurrency lease renewal' failed after 3 attempts" in messages
    assert limits.active(db) == 0


def test_concurrency_context_releases_what_was_left(
    limits: Limits, recorder: RecordingProxy
) -> None:
    from skiff.concurrency import _leases, _wire

    db = limits.make("db", 2)
    lease = uuid.UUID(limits.take(db, 2))
    with ConcurrencyContext():
        _leases.record(_wire.link().transport, lease)  # as a holder cancelled mid-release
    assert limits.active(db) == 0


def test_a_busy_server_within_the_timeout_is_a_timeout(
    limits: Limits, recorder: RecordingProxy
) -> None:
    db = limits.make("db", 1)
    busy = recorder.add("503", path="increment-with-lease")
    # The transport backs off 1.6-2.4 s after a 503: one retry fits in 3 s, a second does not.
    with pytest.raises(AcquireConcurrencySlotTimeoutError), concurrency(db, timeout_seconds=3):
        pytest.fail("the body must not run")
    assert busy.fired >= 2  # retried until the time ran out, then reported as the timeout
    assert limits.active(db) == 0
