"""Save, load, overwrite, delete and list against the real Prefect server."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from skiff.blocks import (
    AwsCredentials,
    Block,
    BlockAlreadyExistsError,
    BlockNotFoundError,
    BlockValidationError,
    ObfuscatedSecretError,
    Secret,
    UnknownBlockTypeError,
)
from skiff.blocks._schema import checksum_of

pytestmark = pytest.mark.server


class Database(Block):
    """A test block with a secret."""

    host: str
    port: int = 5432
    password: SecretStr


def test_save_load_overwrite_delete_list(api_env: str, name: str) -> None:
    doc_id = Database(host="db1", password="pw-1").save(name)
    loaded = Database.load(name)
    assert (loaded.host, loaded.port, loaded.password.get_secret_value()) == ("db1", 5432, "pw-1")
    assert name in Database.list_names()

    with pytest.raises(BlockAlreadyExistsError, match="overwrite=True"):
        Database(host="db2", password="pw-2").save(name)
    assert Database.load(name).host == "db1"

    assert Database(host="db2", port=1, password="pw-2").save(name, overwrite=True) == doc_id
    again = Database.load(name)
    assert (again.host, again.port, again.password.get_secret_value()) == ("db2", 1, "pw-2")

    again.delete()
    assert name not in Database.list_names()
    with pytest.raises(BlockNotFoundError, match=name):
        Database.load(name)


def test_delete_by_name_and_generic_load(api_env: str, name: str) -> None:
    Secret(value={"user": "u", "password": "p"}).save(name)
    block = Block.load(f"secret/{name}")
    assert isinstance(block, Secret)
    assert block.get() == {"user": "u", "password": "p"}
    Secret.delete(name)
    assert name not in Secret.list_names()


def test_unknown_slug_is_a_clear_error(api_env: str) -> None:
    with pytest.raises(UnknownBlockTypeError, match="no-such-type"):
        Block.load("no-such-type/x")

    class Unregistered(Block):
        x: int = 1

    with pytest.raises(UnknownBlockTypeError, match="unregistered"):
        Unregistered.load("anything")
    assert Unregistered.list_names() == []


def test_wrong_field_type_names_the_field() -> None:
    with pytest.raises(BlockValidationError) as caught:
        Database(host="h", port="not-a-port", password="pw")  # type: ignore[arg-type]
    assert "port" in str(caught.value)
    assert ("port", "Input should be a valid integer, unable to parse string as an integer") in (
        caught.value.errors
    )


def test_server_checksum_matches_and_schema_registered_once(api_env: str, name: str) -> None:
    Database(host="a", password="b").save(name)
    Database(host="a", password="b").save(name, overwrite=True)
    with httpx.Client(base_url=api_env) as http:
        schemas = http.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [_type_id(http, "database")]}}},
        ).json()
    assert [s["checksum"] for s in schemas] == [Database.schema_checksum()]
    # The server recomputes the checksum from the fields it stored.
    assert checksum_of(schemas[0]["fields"]) == Database.schema_checksum()


def test_obfuscated_placeholder_is_never_a_value(api_env: str, name: str) -> None:
    AwsCredentials(aws_access_key_id="AK", aws_secret_access_key="********").save(name)
    with pytest.raises(ObfuscatedSecretError, match="aws_secret_access_key"):
        AwsCredentials.load(name)


def _type_id(http: httpx.Client, slug: str) -> str:
    return str(http.get(f"/block_types/slug/{slug}").json()["id"])


def test_a_skiff_client_can_be_passed(api_env: str, name: str) -> None:
    from skiff import Client

    with Client() as client:
        Database(host="c", password="pw").save(name, client=client)
        assert Database.load(name, client=client).host == "c"
        assert name in Database.list_names(client=client)
        Database.delete(name, client=client)
