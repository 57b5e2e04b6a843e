"""Faults the real server cannot be made to produce, replayed with respx.

The mock base URL has no ``/api/`` in it, so none of these requests count as exercising the
real server.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import respx

from skiff.client import (
    APITimeoutError,
    AsyncClient,
    Client,
    InternalServerError,
    ResponseValidationError,
    UnprocessableEntityError,
    ValidationError,
)
from skiff.client._constants import API_VERSION, API_VERSION_HEADER

BASE = "http://mock.invalid/v0"
FLOW_ID = "2f6f4c1e-3c8a-4c55-9a57-6a8f0b7a1d10"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        # Like a default server: CSRF off. CSRF tests replace this route.
        router.get("/csrf-token").mock(return_value=httpx.Response(422, json={"detail": "off"}))
        yield router


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record tenacity's sleeps instead of sleeping (the sync client sleeps with time.sleep)."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(BASE, max_retries=3) as c:
        yield c


def flow_json(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": FLOW_ID,
        "name": "f",
        "created": "2024-01-01T00:00:00Z",
        "updated": "2024-01-01T00:00:00.123456+00:00",
        "tags": [],
        "brand_new_field_from_a_newer_server": {"ignored": True},
    }
    body.update(overrides)
    return body


def test_retry_after_is_honoured(
    mock: respx.MockRouter, client: Client, sleeps: list[float]
) -> None:
    route = mock.post("/flows/count").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=7)]
    )
    assert client.flows.count() == 7
    assert route.call_count == 2
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 3.6  # at least the server's value


def test_503_then_success(mock: respx.MockRouter, client: Client, sleeps: list[float]) -> None:
    route = mock.get(f"/flows/{FLOW_ID}").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(200, json=flow_json()),
        ]
    )
    flow = client.flows.read(FLOW_ID)
    assert str(flow.id) == FLOW_ID and flow.name == "f"
    assert route.call_count == 3 and len(sleeps) == 2
    assert 0 < sleeps[0] < sleeps[1]  # exponential backoff


def test_retries_run_out(mock: respx.MockRouter, client: Client, sleeps: list[float]) -> None:
    route = mock.post("/flows/count").mock(return_value=httpx.Response(502, text="bad gateway"))
    with pytest.raises(InternalServerError, match="502"):
        client.flows.count()
    assert route.call_count == 4  # 1 + max_retries


@pytest.mark.parametrize(
    "drop", [httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset by peer")]
)
def test_connection_drop_mid_request_is_retried(
    mock: respx.MockRouter, client: Client, sleeps: list[float], drop: Exception
) -> None:
    route = mock.post("/flows/count").mock(side_effect=[drop, httpx.Response(200, json=1)])
    assert client.flows.count() == 1
    assert route.call_count == 2


def test_timeout_is_its_own_error(mock: respx.MockRouter, sleeps: list[float]) -> None:
    mock.post("/flows/count").mock(side_effect=httpx.ReadTimeout("slow"))
    with Client(BASE, max_retries=1) as c, pytest.raises(APITimeoutError, match="in time"):
        c.flows.count()


def test_per_call_timeout_reaches_httpx(mock: respx.MockRouter, client: Client) -> None:
    route = mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    client.flows.count(timeout=1.5)
    assert route.calls.last.request.extensions["timeout"]["read"] == 1.5


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b"\x00\xffgarbage", b""],
)
def test_garbage_or_html_body(mock: respx.MockRouter, client: Client, body: bytes) -> None:
    mock.get(f"/flows/{FLOW_ID}").mock(
        return_value=httpx.Response(200, content=body, headers={"content-type": "text/html"})
    )
    with pytest.raises(ResponseValidationError, match=f"GET /v0/flows/{FLOW_ID}") as info:
        client.flows.read(FLOW_ID)
    assert info.value.response is not None


def test_decode_failure_names_the_field_path(mock: respx.MockRouter, client: Client) -> None:
    mock.get(f"/flows/{FLOW_ID}").mock(return_value=httpx.Response(200, json=flow_json(id=5)))
    with pytest.raises(ResponseValidationError, match=r"\$\.id"):
        client.flows.read(FLOW_ID)
    mock.post("/flows/filter").mock(
        return_value=httpx.Response(200, json=[flow_json(), flow_json(created="yesterday")])
    )
    with pytest.raises(ResponseValidationError, match=r"\$\[1\]\.created"):
        client.flows.filter()


def test_422_carries_the_detail(mock: respx.MockRouter, client: Client) -> None:
    detail = [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]
    mock.post("/flows/").mock(return_value=httpx.Response(422, json={"detail": detail}))
    with pytest.raises(UnprocessableEntityError, match=r"body\.name: Field required") as info:
        client.flows.create(name="x")
    assert info.value.detail == detail
    assert info.value.status_code == 422


def test_bad_arguments_send_nothing(mock: respx.MockRouter, client: Client) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json=0))
    with pytest.raises(ValidationError, match="`name`"):
        client.flows.create(name=42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"`flow_runs\[0\]\.parameters`"):
        client.deployments.bulk_create_flow_runs(FLOW_ID, flow_runs=[{"parameters": 3}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="JSON"):
        client.flow_runs.create(flow_id=uuid.uuid4(), parameters={"x": object()})
    assert route.call_count == 0


def test_request_bodies_omit_unset_fields_and_keep_null(
    mock: respx.MockRouter, client: Client, sleeps: list[float]
) -> None:
    route = mock.post("/flow_runs/").mock(side_effect=[httpx.Response(503), httpx.Response(500)])
    with pytest.raises(InternalServerError):
        client.flow_runs.create(flow_id=uuid.UUID(FLOW_ID), flow_version=None)
    first, second = (json.loads(call.request.content) for call in route.calls)
    assert first == second  # a retried create resends the same idempotency key
    assert set(first) == {"flow_id", "flow_version", "idempotency_key"}
    assert first["flow_version"] is None and len(first["idempotency_key"]) == 32


def test_csrf_token_fetched_and_sent_on_writes(mock: respx.MockRouter, client: Client) -> None:
    token = mock.get("/csrf-token").mock(return_value=httpx.Response(200, json={"token": "tok-1"}))
    count = mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    read = mock.get(f"/flows/{FLOW_ID}").mock(return_value=httpx.Response(200, json=flow_json()))
    client.flows.read(FLOW_ID)
    assert token.call_count == 0  # reads need no token
    assert "prefect-csrf-token" not in read.calls.last.request.headers
    client.flows.count()
    client.flows.count()
    assert token.call_count == 1
    sent = count.calls.last.request.headers
    assert sent["prefect-csrf-token"] == "tok-1"
    assert sent["prefect-csrf-client"] == token.calls.last.request.url.params["client"]


def test_csrf_rejected_token_is_refreshed(mock: respx.MockRouter, client: Client) -> None:
    token = mock.get("/csrf-token").mock(
        side_effect=[
            httpx.Response(200, json={"token": "stale"}),
            httpx.Response(200, json={"token": "fresh"}),
        ]
    )
    count = mock.post("/flows/count").mock(
        side_effect=[
            httpx.Response(403, json={"detail": "Invalid CSRF token or client identifier."}),
            httpx.Response(200, json=5),
        ]
    )
    assert client.flows.count() == 5
    assert token.call_count == 2
    assert [c.request.headers["prefect-csrf-token"] for c in count.calls] == ["stale", "fresh"]


@pytest.mark.parametrize("status", [422, 404])
def test_csrf_422_or_missing_route_means_disabled(
    mock: respx.MockRouter, client: Client, status: int
) -> None:
    token = mock.get("/csrf-token").mock(
        return_value=httpx.Response(status, json={"detail": "CSRF protection is disabled."})
    )
    count = mock.post("/flows/count").mock(return_value=httpx.Response(200, json=0))
    client.flows.count()
    client.flows.count()
    assert token.call_count == 1
    assert "prefect-csrf-token" not in count.calls.last.request.headers


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"api_key": "pnu_key"}, "Bearer pnu_key"),
        ({"auth_string": "admin:pass"}, "Basic " + base64.b64encode(b"admin:pass").decode()),
        ({}, None),
    ],
)
def test_auth_and_version_headers(
    mock: respx.MockRouter, kwargs: dict[str, str], expected: str | None
) -> None:
    route = mock.get("/health").mock(return_value=httpx.Response(200, json=True))
    with Client(BASE, **kwargs) as c:
        assert c.root.health() is True
    headers = route.calls.last.request.headers
    assert headers.get("authorization") == expected
    assert headers[API_VERSION_HEADER] == API_VERSION


def test_raw_request_gives_the_httpx_response(mock: respx.MockRouter, client: Client) -> None:
    mock.get("/hello").mock(return_value=httpx.Response(200, json="hi"))
    response = client.request("GET", "/hello")
    assert isinstance(response, httpx.Response) and response.json() == "hi"


@pytest.mark.anyio
async def test_async_client_retries_too(mock: respx.MockRouter) -> None:
    route = mock.post("/flows/count").mock(
        side_effect=[httpx.RemoteProtocolError("dropped"), httpx.Response(200, json=2)]
    )
    async with AsyncClient(BASE) as c:
        assert await c.flows.count() == 2
    assert route.call_count == 2


def test_regression_12_deployments_run_survives_busy_server(
    mock: respx.MockRouter, sleeps: list[float]
) -> None:
    stamp = {"created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z"}
    deployment = {"id": FLOW_ID, "name": "d", "flow_id": FLOW_ID, **stamp}
    run = {"id": str(uuid.uuid4()), "flow_id": FLOW_ID, **stamp}
    busy = [httpx.Response(503, json={"exception_message": "Service Unavailable"})] * 5
    mock.get("/deployments/name/f/d").mock(
        side_effect=[*busy, httpx.Response(200, json=deployment)]
    )
    create = mock.post(f"/deployments/{FLOW_ID}/create_flow_run").mock(
        side_effect=[*busy, httpx.Response(201, json=run)]
    )
    with Client(BASE) as c:
        assert str(c.deployments.run("f/d").id) == run["id"]
    assert create.call_count == 6
    # Both calls waited out the server like prefect-client does (2+4+8+16+32 s, jittered).
    assert len(sleeps) == 10 and sum(sleeps) >= 2 * 62 * 0.8
    keys = {json.loads(call.request.content)["idempotency_key"] for call in create.calls}
    assert len(keys) == 1  # every retry is the same create
