"""Wrong arguments fail before anything is sent; empty names acquire nothing (as in Prefect).

No server is needed: PREFECT_API_URL is unset, so any request would fail differently.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff import ValidationError
from skiff.concurrency import _core, _lanes, sync
from skiff.concurrency import asyncio as aconcurrency


@pytest.fixture(autouse=True)
def _no_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def _enter_sync(**kwargs: Any) -> None:
    with sync.concurrency(**kwargs):
        pass


def _enter_async(**kwargs: Any) -> None:
    async def main() -> None:
        async with aconcurrency.concurrency(**kwargs):
            pass

    asyncio.run(main())


DRIVERS: list[Callable[..., None]] = [
    _enter_sync,
    _enter_async,
    lambda **kw: sync.rate_limit(**{k: v for k, v in kw.items() if k != "lease_duration"}),
    lambda **kw: asyncio.run(
        aconcurrency.rate_limit(**{k: v for k, v in kw.items() if k != "lease_duration"})
    ),
]

BAD = [
    ({"names": 5}, "names must be a limit name or a list of limit names"),
    ({"names": ("db",)}, "concurrency(['database', 'api'])"),
    ({"names": ["db", 3]}, "names must be"),
    ({"names": "db", "occupy": 0}, "occupy must be a whole number of slots, 1 or more; got 0"),
    ({"names": "db", "occupy": 1.5}, "occupy must be"),
    ({"names": "db", "occupy": True}, "occupy must be"),
    ({"names": "db", "timeout_seconds": "5"}, "timeout_seconds must be None"),
    ({"names": "db", "timeout_seconds": -1}, "0 or more; got -1"),
]


@pytest.mark.parametrize("driver", DRIVERS, ids=["sync", "async", "rate", "async-rate"])
@pytest.mark.parametrize(("kwargs", "message"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_arguments_raise_typed_errors(
    driver: Callable[..., None], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(_core.ConcurrencyArgumentError) as raised:
        driver(**kwargs)
    assert message in str(raised.value)
    # Prefect raises ConcurrencySlotAcquisitionError once the server rejects the same values.
    assert isinstance(raised.value, sync.ConcurrencySlotAcquisitionError)
    assert isinstance(raised.value, ValidationError) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize("driver", [_enter_sync, _enter_async], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease_duration": 30}, "from 60 to 86400 (the server's bounds); got 30"),
        ({"max_retries": -1}, "max_retries must be None"),
        ({"holder": {"type": "person", "id": str(uuid.uuid4())}}, "one of flow_run, task_run"),
        ({"holder": {"type": "task_run", "id": "nope"}}, "an 'id' (a UUID)"),
    ],
)
def test_bad_lease_arguments(
    driver: Callable[..., None], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(
        _core.ConcurrencyArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        driver(names="db", **kwargs)


@pytest.mark.parametrize("names", [[], ""])
def test_empty_names_acquire_nothing(names: Any) -> None:
    ran = []
    with sync.concurrency(names):
        ran.append("sync")
    sync.rate_limit(names)

    async def main() -> None:
        async with aconcurrency.concurrency(names):
            ran.append("async")
        await aconcurrency.rate_limit(names)

    asyncio.run(main())
    assert ran == ["sync", "async"]


def test_the_error_tree_matches_prefects() -> None:
    assert issubclass(sync.AcquireConcurrencySlotTimeoutError, TimeoutError)
    assert not issubclass(
        sync.AcquireConcurrencySlotTimeoutError, sync.ConcurrencySlotAcquisitionError
    )
    assert issubclass(sync.ConcurrencyLeaseLostError, asyncio.CancelledError)
    assert not issubclass(sync.ConcurrencyLeaseLostError, Exception)
    assert aconcurrency.ConcurrencySlotAcquisitionError is sync.ConcurrencySlotAcquisitionError


def test_server_validation_details_are_worded_as_prefect_does() -> None:
    # The body Prefect 3.9.1's server sends for slots=0 (observed through the proxy).
    body = {
        "exception_message": "Invalid request received.",
        "exception_detail": [
            {
                "type": "greater_than",
                "loc": ["body", "slots"],
                "msg": "Input should be greater than 0",
            }
        ],
    }
    response = httpx.Response(422, json=body)
    assert _core._status_text(response) == (
        "422 Unprocessable Entity: slots: Input should be greater than 0"
    )
    assert (
        _core._status_text(httpx.Response(423, json={"detail": "Locked"})) == "423 Locked: Locked"
    )
    assert _core._status_text(httpx.Response(500, text="oops")) == "500 Internal Server Error"


def test_lanes_take_turns_in_arrival_order() -> None:
    lane = _lanes.Lane()
    woken: list[str] = []
    first = _lanes.Turn(lambda: woken.append("first") is None)
    second = _lanes.Turn(lambda: woken.append("second") is None)
    third = _lanes.Turn(lambda: woken.append("third") is None)
    assert lane.join(first) is True
    assert lane.join(second) is False and lane.join(third) is False
    assert lane.withdraw(second) is True  # gave up before its turn
    lane.leave()
    assert woken == ["third"] and third.granted
    assert lane.withdraw(third) is False  # already its turn: it must leave() instead
    lane.leave()
    assert lane.join(_lanes.Turn(lambda: True)) is True  # free again


def test_a_turn_whose_loop_is_gone_is_passed_on() -> None:
    lane = _lanes.Lane()
    woken: list[str] = []
    lane.join(_lanes.Turn(lambda: True))
    lane.join(_lanes.Turn(lambda: False))  # its event loop closed
    lane.join(_lanes.Turn(lambda: woken.append("next") is None))
    lane.leave()
    assert woken == ["next"]
