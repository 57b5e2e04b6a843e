"""Transport behaviour callers rely on: what an error says about the request, and timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from skiff.client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    InternalServerError,
)

BASE = "http://mock.invalid/v0"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/csrf-token").mock(return_value=httpx.Response(422, json={"detail": "off"}))
        yield router


NEVER_SENT = [
    httpx.ConnectError("refused"),
    httpx.ConnectTimeout("no connection in time"),
    httpx.PoolTimeout("no pooled connection free"),
]
MAYBE_SENT = [
    httpx.ReadTimeout("slow"),
    httpx.WriteTimeout("slow write"),
    httpx.ReadError("reset by peer"),
    httpx.WriteError("broken pipe"),
    httpx.RemoteProtocolError("Server disconnected"),
]


def test_maybe_processed_defaults_to_true() -> None:
    assert APIConnectionError("x").maybe_processed is True
    assert APITimeoutError("x").maybe_processed is True
    assert APIConnectionError("x", maybe_processed=False).maybe_processed is False
    assert APITimeoutError("x", maybe_processed=False).maybe_processed is False


@pytest.mark.parametrize("exc", NEVER_SENT + MAYBE_SENT, ids=lambda e: type(e).__name__)
def test_maybe_processed_says_whether_the_request_could_have_landed(
    mock: respx.MockRouter, exc: Exception
) -> None:
    mock.post("/flows/count").mock(side_effect=exc)
    with Client(BASE, max_retries=0) as c, pytest.raises(APIConnectionError) as info:
        c.flows.count()
    assert info.value.maybe_processed is (exc not in NEVER_SENT)
    assert isinstance(info.value, APITimeoutError) is isinstance(exc, httpx.TimeoutException)


@pytest.mark.anyio
async def test_async_maybe_processed(mock: respx.MockRouter) -> None:
    mock.post("/flows/count").mock(side_effect=httpx.ConnectError("refused"))
    async with AsyncClient(BASE, max_retries=0) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.flows.count()
    assert info.value.maybe_processed is False


def test_csrf_token_fetch_honours_the_call_timeout(mock: respx.MockRouter) -> None:
    token = mock.get("/csrf-token").mock(return_value=httpx.Response(200, json={"token": "t"}))
    mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    with Client(BASE) as c:
        c.flows.count(timeout=1.5)
    assert token.calls.last.request.extensions["timeout"]["read"] == 1.5


def test_regression_12_deadline_wins_over_retries(mock: respx.MockRouter) -> None:
    # A 502's first sleep (0.375-0.625 s) fits before the deadline, the second (0.75 s+) not.
    route = mock.post("/flows/count").mock(return_value=httpx.Response(502))
    with Client(BASE) as c:
        deadline = time.monotonic() + 0.9
        with pytest.raises(InternalServerError, match="502"):
            c._transport.request("POST", "/flows/count", deadline=deadline)
        assert time.monotonic() < deadline  # gave up rather than sleep past it
    assert route.call_count == 2


@pytest.mark.anyio
async def test_regression_12_async_deadline_wins_over_retries(mock: respx.MockRouter) -> None:
    route = mock.post("/flows/count").mock(return_value=httpx.Response(503))
    async with AsyncClient(BASE) as c:
        deadline = time.monotonic() + 1.0  # the first busy backoff is 1.6 s or more
        with pytest.raises(InternalServerError, match="503"):
            await c._transport.request("POST", "/flows/count", deadline=deadline)
        assert time.monotonic() < deadline
    assert route.call_count == 1


def test_regression_12_timeout_cut_to_time_left(mock: respx.MockRouter) -> None:
    route = mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    with Client(BASE, timeout=30) as c:
        c._transport.request("POST", "/flows/count", deadline=time.monotonic() + 2.0)
        c._transport.request("POST", "/flows/count", timeout=0.5, deadline=time.monotonic() + 2)
    first, second = (call.request.extensions["timeout"]["read"] for call in route.calls)
    assert 1.5 < first <= 2.0
    assert second == 0.5


def test_regression_12_past_deadline_sends_nothing(mock: respx.MockRouter) -> None:
    route = mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    with Client(BASE) as c, pytest.raises(APITimeoutError, match="deadline") as info:
        c._transport.request("POST", "/flows/count", deadline=time.monotonic() - 1)
    assert route.call_count == 0
    assert info.value.maybe_processed is False
