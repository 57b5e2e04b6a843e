"""No secret value in an error built from the server's answer (issue 11, defect 8)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
import respx

from skiff.client import APIStatusError, Client, UnprocessableEntityError
from skiff.client._redact import describe, redact, redact_text

BASE = "http://mock.invalid/v0"
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

# What Prefect 3.9.1 answers to a block document create without a schema (captured verbatim).
PREFECT_422 = {
    "exception_message": "Invalid request received.",
    "exception_detail": [
        {
            "type": "missing",
            "loc": ["body", "block_schema_id"],
            "msg": "Field required",
            "input": {"name": "x", "data": {"aws_secret_access_key": SECRET, "value": SECRET}},
        },
        {
            "type": "uuid_parsing",
            "loc": ["body", "block_type_id"],
            "msg": "Input should be a valid UUID, invalid character: found `n` at 0",
            "input": "nope",
            "ctx": {"error": "invalid character: found `n` at 0"},
        },
    ],
    "request_body": {"name": "x", "data": {"aws_secret_access_key": SECRET, "value": SECRET}},
}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.get("/csrf-token").mock(return_value=httpx.Response(422, json={"detail": "off"}))
        yield router


def everything_printable(exc: APIStatusError, caplog: pytest.LogCaptureFixture) -> str:
    """What a user or a logger could see of the exception."""
    logging.getLogger("test").error("failed: %s %r %s", exc, exc, exc.detail, exc_info=exc)
    return " ".join([str(exc), repr(exc), str(exc.args), str(exc.detail), caplog.text])


def test_regression_08_secret_not_in_422_error(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    mock.post("/block_documents/").mock(return_value=httpx.Response(422, json=PREFECT_422))
    with Client(BASE) as c, pytest.raises(UnprocessableEntityError) as info:
        c.block_documents.create(
            name="x",
            data={"aws_secret_access_key": SECRET},
            block_schema_id=uuid.uuid4(),
            block_type_id=uuid.uuid4(),
        )
    shown = everything_printable(info.value, caplog)
    assert SECRET not in shown
    assert "nope" not in str(info.value)  # echoed inputs never reach the message
    # The useful part stays: where and what.
    assert "body.block_schema_id: Field required" in str(info.value)
    assert "body.block_type_id: Input should be a valid UUID" in str(info.value)


@pytest.mark.server
def test_regression_08_secret_not_in_422_error_real_server(
    prefect_api_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A bad block type id with a secret in the body: the server echoes the body back.
    with Client(prefect_api_url) as c, pytest.raises(UnprocessableEntityError) as info:
        c.request(
            "POST",
            "/block_documents/",
            json={"name": "x", "data": {"aws_secret_access_key": SECRET}, "block_type_id": "no"},
        )
    assert SECRET in info.value.response.text  # the server did echo it
    assert SECRET not in everything_printable(info.value, caplog)
    assert "body.block_schema_id: Field required" in str(info.value)


def test_regression_08_secret_not_in_non_json_error(mock: respx.MockRouter) -> None:
    body = f'bad request {{"password": "{SECRET}", "client_secret":"{SECRET}"}} token={SECRET}'
    mock.post("/flows/count").mock(return_value=httpx.Response(400, text=body))
    with Client(BASE) as c, pytest.raises(APIStatusError) as info:
        c.flows.count()
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.detail)
    assert "bad request" in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        "aws_secret_access_key",
        "password",
        "api_token",
        "private_key_id",
        "Authorization",
        "client_credentials",
        "auth_string",
        "connection_string_key",
    ],
)
def test_redact_masks_secret_looking_keys_anywhere(key: str) -> None:
    out = redact({"a": [{"b": {key: SECRET, "name": "kept"}}]})
    assert out == {"a": [{"b": {key: "***", "name": "kept"}}]}


def test_redact_drops_echoed_inputs_and_keeps_the_rest() -> None:
    out = redact(PREFECT_422)
    assert "request_body" not in out
    assert all("input" not in item for item in out["exception_detail"])
    assert out["exception_detail"][1]["loc"] == ["body", "block_type_id"]
    assert SECRET not in repr(out)


@pytest.mark.parametrize(
    "text",
    [
        f'{{"aws_secret_access_key": "{SECRET}"}}',
        f"password={SECRET}&user=me",
        f"Authorization: Bearer {SECRET}",
        f"client_secret: '{SECRET}'",
    ],
)
def test_redact_text_masks_secret_assignments(text: str) -> None:
    assert SECRET not in redact_text(text)


def test_describe_is_a_short_field_message_list() -> None:
    assert describe(redact(PREFECT_422["exception_detail"])) == (
        "body.block_schema_id: Field required; "
        "body.block_type_id: Input should be a valid UUID, invalid character: found `n` at 0"
    )
    many = [{"loc": ["body", f"f{i}"], "msg": "bad"} for i in range(8)]
    assert describe(many).endswith("body.f4: bad; (+3 more)")
    assert describe("Block already exists.") == "Block already exists."
