"""Server-version awareness without a server: the derived table, the version read, the error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from skiff import SkiffError, UnsupportedByServerError
from skiff.client import APIError, AsyncClient, Client, NotFoundError
from skiff.client._compat import (
    parse_version,
    requirement,
    route_missing_error,
    unsupported_error,
)
from skiff.client._spec_tables import ADDED, MEASURED_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://mock.invalid/api"
STATE = {"type": "CANCELLED", "name": "Cancelled"}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/csrf-token").mock(return_value=httpx.Response(422, json={"detail": "off"}))
        yield router


def server(mock: respx.MockRouter, version: str) -> respx.Route:
    return mock.get("/admin/version").mock(return_value=httpx.Response(200, json=version))


def test_the_table_is_derived_from_the_stored_specs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "spec_tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert MEASURED_VERSIONS == ("3.4.25", "3.6.29", "3.9.1")
    # What DESIGN.md measured: both bulk operations are 404 on 3.4.25.
    assert ADDED["POST /flow_runs/bulk_set_state"] == ("3.4.25", "3.6.29")
    assert ADDED["POST /flow_runs/bulk_delete"] == ("3.4.25", "3.6.29")


def test_requirement_resolves_concrete_paths_to_spec_operations() -> None:
    req = requirement("POST", "/flow_runs/bulk_set_state")
    assert req is not None
    assert req.method_name == "flow_runs.bulk_set_state"
    assert req.oldest_having == "3.6.29"
    pool = requirement("post", "/work_pools/my%20pool/concurrency_status")
    assert pool is not None and pool.operation == "POST /work_pools/{name}/concurrency_status"
    assert requirement("GET", "/flow_runs/0b7e0b04-52a6-4a4c-9a3c-0a0a0a0a0a0a") is None
    assert requirement("POST", "/flow_runs/filter") is None
    assert requirement("GET", "/admin/version") is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("3.4.25", (3, 4, 25)), ("3.6.0.dev3", (3, 6, 0)), ("v3.9", (3, 9, 0)), ("x", None)],
)
def test_parse_version(text: str, parsed: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parsed


def test_unsupported_only_where_the_measurement_says_so() -> None:
    req = requirement("POST", "/flow_runs/bulk_delete")
    assert req is not None
    error = unsupported_error(req, "3.4.25")
    assert isinstance(error, UnsupportedByServerError)
    assert isinstance(error, APIError) and isinstance(error, SkiffError)
    assert error.required_version == "3.6.29" and error.server_version == "3.4.25"
    assert "flow_runs.bulk_delete()" in str(error) and ">= 3.6.29" in str(error)
    assert "this server is 3.4.25" in str(error)
    assert unsupported_error(req, "3.2.0") is not None
    # Unmeasured versions between 3.4.25 and 3.6.29, newer ones and unknown ones: send it.
    assert unsupported_error(req, "3.5.1") is None
    assert unsupported_error(req, "3.6.29") is None
    assert unsupported_error(req, None) is None


def test_bulk_set_state_on_a_3_4_server_raises_the_version_error_without_sending(
    mock: respx.MockRouter,
) -> None:
    version = server(mock, "3.4.25")
    bulk = mock.post("/flow_runs/bulk_set_state").mock(return_value=httpx.Response(404))
    with Client(BASE, max_retries=0) as c:
        with pytest.raises(UnsupportedByServerError, match=r">= 3\.6\.29.*3\.4\.25"):
            c.flow_runs.bulk_set_state(state=STATE)
        with pytest.raises(UnsupportedByServerError, match="bulk_delete"):
            c.flow_runs.bulk_delete()
        assert c.server_version() == "3.4.25"
    assert bulk.call_count == 0
    assert version.call_count == 1  # read once per client


def test_a_new_server_gets_the_call(mock: respx.MockRouter) -> None:
    server(mock, "3.9.1")
    bulk = mock.post("/flow_runs/bulk_delete").mock(
        return_value=httpx.Response(200, json={"deleted": []})
    )
    with Client(BASE, max_retries=0) as c:
        c.flow_runs.bulk_delete()
    assert bulk.call_count == 1


def test_ungated_calls_never_read_the_version(mock: respx.MockRouter) -> None:
    version = server(mock, "3.4.25")
    mock.post("/flows/count").mock(return_value=httpx.Response(200, json=3))
    with Client(BASE, max_retries=0) as c:
        assert c.flows.count() == 3
    assert version.call_count == 0


def test_a_server_that_hides_its_version_gets_the_call_and_a_bare_404_becomes_the_error(
    mock: respx.MockRouter,
) -> None:
    mock.get("/admin/version").mock(return_value=httpx.Response(403, json={"detail": "no"}))
    mock.post("/flow_runs/bulk_delete").mock(
        return_value=httpx.Response(404, json={"detail": "Not Found"})
    )
    with Client(BASE, max_retries=0) as c, pytest.raises(UnsupportedByServerError) as info:
        c.flow_runs.bulk_delete()
    assert info.value.server_version is None
    assert isinstance(info.value.__cause__, NotFoundError)


def test_an_object_404_stays_a_not_found_error() -> None:
    req = requirement("POST", "/work_queues/abc/concurrency_status")
    assert req is not None
    response = httpx.Response(
        404,
        json={"detail": "Work queue not found"},
        request=httpx.Request("POST", BASE + "/work_queues/abc/concurrency_status"),
    )
    error = NotFoundError("x", response=response, detail="Work queue not found")
    assert route_missing_error(req, None, error) is None


@pytest.mark.anyio
async def test_async_client_raises_it_too(mock: respx.MockRouter) -> None:
    server(mock, "3.4.25")
    async with AsyncClient(BASE, max_retries=0) as c:
        with pytest.raises(UnsupportedByServerError):
            await c.deployments.bulk_delete()
        assert await c.server_version() == "3.4.25"
