"""Server limits checked before sending, the missing-/api hint, and the single-pass body check."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
import respx

from skiff.client import Client, NotFoundError, ValidationError
from skiff.client._generated import models

BASE = "http://mock.invalid/api"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/csrf-token").mock(return_value=httpx.Response(422, json={"detail": "off"}))
        router.get("/admin/version").mock(return_value=httpx.Response(200, json="3.9.1"))
        yield router


def test_bulk_delete_limit_is_checked_before_sending(mock: respx.MockRouter) -> None:
    sent = mock.post("/flow_runs/bulk_delete").mock(
        return_value=httpx.Response(200, json={"deleted": []})
    )
    with Client(BASE, max_retries=0) as c:
        with pytest.raises(ValidationError) as info:
            c.flow_runs.bulk_delete(limit=100)
        with pytest.raises(ValidationError, match="at least 1"):
            c.deployments.bulk_delete(limit=0)
        c.flow_runs.bulk_delete(limit=50)
    message = str(info.value)
    assert "flow_runs.bulk_delete()" in message and "`limit`" in message
    assert "at most 50 (got 100)" in message
    assert sent.call_count == 1


def test_nested_limits_name_the_field_path(mock: respx.MockRouter) -> None:
    with Client(BASE, max_retries=0) as c, pytest.raises(ValidationError) as info:
        c.events.filter(filter={"text": {"query": "x" * 201}})
    assert "`filter.text.query`" in str(info.value)
    assert "at most 200 characters (got 201)" in str(info.value)


def test_name_patterns_are_checked(mock: respx.MockRouter) -> None:
    with Client(BASE, max_retries=0) as c, pytest.raises(ValidationError, match="`name`"):
        c.flows.create(name="a/b")


def test_check_limits_accepts_what_fits() -> None:
    from skiff.client._base import check_limits

    body = models.Body_bulk_delete_flow_runs_flow_runs_bulk_delete_post(limit=50)
    check_limits("flow_runs.bulk_delete", body)


def test_check_body_encodes_once_and_sends_those_bytes() -> None:
    from skiff.client._base import check_body

    struct = models.FlowCreate(name="f", tags=["a"])
    body = check_body("flows.create", struct, models.FlowCreate)
    assert isinstance(body, msgspec.Raw)
    assert bytes(body) == msgspec.json.encode(struct)
    # A plain dict where a Struct is expected still works, and still validates.
    assert bytes(check_body("flows.create", {"name": "f"}, models.FlowCreate)) == b'{"name":"f"}'
    with pytest.raises(ValidationError, match="`tags`"):
        check_body("flows.create", {"name": "f", "tags": "a"}, models.FlowCreate)
    with pytest.raises(ValidationError, match="cannot be sent as JSON"):
        check_body("flows.create", {"name": object()}, models.FlowCreate)


def test_a_404_off_the_api_hints_at_the_missing_api(mock: respx.MockRouter) -> None:
    with respx.mock(base_url="http://ui.invalid", assert_all_called=False) as ui:
        ui.get("/csrf-token").mock(return_value=httpx.Response(422))
        ui.post("/flows/count").mock(return_value=httpx.Response(404, json={"detail": "Not Found"}))
        with Client("http://ui.invalid", max_retries=0) as c, pytest.raises(NotFoundError) as info:
            c.flows.count()
    assert "/api" in str(info.value) and "PREFECT_API_URL" in str(info.value)


def test_a_404_on_the_api_gives_no_hint(mock: respx.MockRouter) -> None:
    mock.get("/flows/00000000-0000-0000-0000-000000000000").mock(
        return_value=httpx.Response(404, json={"detail": "Flow not found"})
    )
    with Client(BASE, max_retries=0) as c, pytest.raises(NotFoundError) as info:
        c.flows.read("00000000-0000-0000-0000-000000000000")
    assert "PREFECT_API_URL" not in str(info.value)
