"""Something other than the Prefect API answers (a proxy, an SSO login page): every error the
client raises is a SkiffError that says so (issue 11, defect 13)."""

from __future__ import annotations

import datetime as dt
import inspect
import types
import typing
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import respx

from skiff.client import APIConnectionError, Client, ResponseValidationError, SkiffError
from skiff.client._generated.operations import OPERATIONS

BASE = "http://mock.invalid/v0"
SSO_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>SSO</body></html>"
HTML = {"content-type": "text/html; charset=utf-8"}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def test_regression_13_csrf_html_is_skiff_error(mock: respx.MockRouter) -> None:
    mock.get("/csrf-token").mock(return_value=httpx.Response(200, content=SSO_PAGE, headers=HTML))
    with Client(BASE) as c, pytest.raises(SkiffError) as info:
        c.flows.count()
    assert not isinstance(info.value, msgspec.DecodeError)
    assert isinstance(info.value, ResponseValidationError)
    message = str(info.value)
    assert "/csrf-token" in message and "text/html" in message
    assert "PREFECT_API_URL" in message and "proxy" in message


@pytest.mark.parametrize(
    "body", [b'["not", "an", "object"]', b'{"token": 5}', b"{}"], ids=["list", "int", "empty"]
)
def test_regression_13_csrf_odd_json_is_skiff_error(mock: respx.MockRouter, body: bytes) -> None:
    mock.get("/csrf-token").mock(return_value=httpx.Response(200, content=body))
    with Client(BASE) as c, pytest.raises(ResponseValidationError, match="csrf-token"):
        c.flows.count()


@pytest.mark.parametrize(
    "exc",
    [
        httpx.DecodingError("bad gzip"),
        httpx.TooManyRedirects("loop"),
        httpx.UnsupportedProtocol("ftp"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_regression_13_every_httpx_error_is_skiff_error(
    mock: respx.MockRouter, exc: Exception
) -> None:
    mock.get("/health").mock(side_effect=exc)
    with Client(BASE, max_retries=0) as c, pytest.raises(APIConnectionError):
        c.root.health()


def test_regression_13_unencodable_raw_body_is_skiff_error(mock: respx.MockRouter) -> None:
    with Client(BASE) as c, pytest.raises(SkiffError, match="JSON"):
        c.request("POST", "/flows/", json={"x": object()})


def _dummy(annotation: Any) -> Any:
    """A value of the annotated type, good enough to pass the client's argument checks."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for tp in typing.get_args(annotation) if union else (annotation,):
        origin = typing.get_origin(tp) or tp
        if tp is uuid.UUID:
            return uuid.uuid4()
        if tp is dt.datetime:
            return dt.datetime.now(dt.timezone.utc)
        if origin in (str, int, float, bool):
            return {str: "x", int: 1, float: 1.0, bool: True}[origin]
        if origin is list:
            # One string, so lists the server wants non-empty (``names``) pass the limit checks.
            return ["x"] if typing.get_args(tp) == (str,) else []
        if origin is dict:
            return {}
        if origin is typing.Literal:
            return typing.get_args(tp)[0]
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            fields = msgspec.structs.fields(tp)
            return tp(**{f.name: _dummy(f.type) for f in fields if f.required})
    raise AssertionError(f"no dummy for {annotation}")


def _calls() -> list[Any]:
    out = []
    for op in OPERATIONS:
        out.append(pytest.param(op.resource, op.name, id=f"{op.resource}.{op.name}"))
    return out


@pytest.mark.parametrize(("resource", "name"), _calls())
def test_regression_13_every_operation_on_an_html_200_raises_skiff_error(
    mock: respx.MockRouter, resource: str, name: str
) -> None:
    mock.route().mock(return_value=httpx.Response(200, content=SSO_PAGE, headers=HTML))
    with Client(BASE, max_retries=0) as c:
        method = getattr(getattr(c, resource), name)
        hints = typing.get_type_hints(method, vars(__import__(method.__module__, fromlist=["x"])))
        kwargs = {
            p.name: _dummy(hints[p.name])
            for p in inspect.signature(method).parameters.values()
            if p.default is inspect.Parameter.empty
        }
        # These take their whole body as one optional argument, which must be given.
        if name.startswith("validate_template"):
            kwargs["template"] = "{{ flow_run.name }}"
        with pytest.raises(SkiffError, match="PREFECT_API_URL"):
            result = method(**kwargs)
            if isinstance(result, Iterator):
                list(result)
