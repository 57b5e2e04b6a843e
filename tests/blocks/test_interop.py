"""Interop with real prefect + prefect-aws (the server's environment) on the same server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff.blocks import AwsCredentials, GcpCredentials, Secret
from skiff.blocks._schema import checksum_of

pytestmark = pytest.mark.server

# The same custom block, written for prefect and for skiff: nested model, nested block,
# secret str/dict, list, dict, Literal, alias, a docstring with sections and a code fence.
CUSTOM = '''
from typing import Literal, Optional
from pydantic import BaseModel, Field, SecretStr
from {module} import Block
from {secret_dict_module} import SecretDict


class Endpoint(BaseModel):
    """Where to connect."""

    host: str
    port: int = 443


class Inner(Block):
    token: SecretStr
    _block_type_name = "Skiff Interop Inner"


class Outer(Block):
    """
    An outer block used to compare checksums.
    Second line with `code`.

    ```python
    Args:
        not a section inside a fence
    ```

    Args:
        endpoint: the endpoint
    """

    _block_type_slug = "skiff-interop-outer"
    endpoint: Endpoint = Field(default_factory=lambda: Endpoint(host="h"))
    inner: Optional[Inner] = None
    headers: dict[str, str] = {{}}
    tags: list[str] = Field(default_factory=list, title="Tags!")
    mode: Literal["a", "b"] = "a"
    creds: Optional[SecretDict] = None
    schema_: str = Field(default="x", alias="schema")
'''

PREFECT_CHECKSUMS = (
    CUSTOM.format(module="prefect.blocks.core", secret_dict_module="prefect.types")
    + """
import json
from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials
print(json.dumps({c.__name__: c._calculate_schema_checksum()
                  for c in (Outer, Inner, Secret, AwsCredentials)}))
"""
)


def test_checksums_equal_prefects(run_prefect: Callable[[str], Any]) -> None:
    namespace: dict[str, Any] = {"__name__": "skiff_interop_custom"}
    source = CUSTOM.format(module="skiff.blocks", secret_dict_module="skiff.blocks")
    # dont_inherit: this module's `from __future__ import annotations` must not leak in.
    exec(compile(source, "<custom>", "exec", dont_inherit=True), namespace)
    ours = {
        "Outer": namespace["Outer"].schema_checksum(),
        "Inner": namespace["Inner"].schema_checksum(),
        "Secret": Secret.schema_checksum(),
        "AwsCredentials": AwsCredentials.schema_checksum(),
    }
    assert run_prefect(PREFECT_CHECKSUMS) == ours


def test_known_prefect_checksums() -> None:
    """Measured with prefect 3.9.1 / prefect-gcp 0.6.22 / prefect-azure 0.4.13 (not installed here)."""
    from skiff.blocks import AzureBlobStorageCredentials

    assert GcpCredentials.schema_checksum() == (
        "sha256:5e8a10b87d7e7bbd4acc1d83b498e8577bb01dfd2b6b518e1400bdb41da97886"
    )
    assert AzureBlobStorageCredentials.schema_checksum() == (
        "sha256:372d3e4c9374d1d3aa02e4f83b5a7c5e375d2cc97afd46a80a8e12bfea585f74"
    )


def test_aws_credentials_both_ways(
    api_env: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    AwsCredentials(
        aws_access_key_id="AKIA-SKIFF",
        aws_secret_access_key="skiff-secret",
        aws_session_token="skiff-token",
        region_name="eu-west-1",
        aws_client_parameters={"endpoint_url": "http://127.0.0.1:1"},
        assume_role_kwargs={"DurationSeconds": 900},
    ).save(f"{name}-skiff")

    script = f"""
import json
from prefect_aws import AwsCredentials
from pydantic import SecretStr
got = AwsCredentials.load("{name}-skiff")
AwsCredentials(
    aws_access_key_id="AKIA-PREFECT",
    aws_secret_access_key=SecretStr("prefect-secret"),
    aws_session_token="prefect-token",
    profile_name="p",
    aws_client_parameters={{"use_ssl": False}},
).save("{name}-prefect")
print(json.dumps({{
    "key": got.aws_access_key_id,
    "secret": got.aws_secret_access_key.get_secret_value(),
    "token": got.aws_session_token,
    "region": got.region_name,
    "endpoint": got.aws_client_parameters.endpoint_url,
    "duration": got.assume_role_kwargs.DurationSeconds,
    "checksum": AwsCredentials._calculate_schema_checksum(),
}}))
"""
    seen_by_prefect = run_prefect(script)
    assert seen_by_prefect == {
        "key": "AKIA-SKIFF",
        "secret": "skiff-secret",
        "token": "skiff-token",
        "region": "eu-west-1",
        "endpoint": "http://127.0.0.1:1",
        "duration": 900,
        "checksum": AwsCredentials.schema_checksum(),
    }

    theirs = AwsCredentials.load(f"{name}-prefect")
    assert theirs.aws_access_key_id == "AKIA-PREFECT"
    assert theirs.aws_secret_access_key is not None
    assert theirs.aws_secret_access_key.get_secret_value() == "prefect-secret"
    assert theirs.aws_session_token == "prefect-token"
    assert (theirs.profile_name, theirs.aws_client_parameters.use_ssl) == ("p", False)

    # Both documents use one schema row. (The server also holds an older aws-credentials
    # schema from its bundled collection catalogue; neither side registers that one.)
    with httpx.Client(base_url=api_env) as http:
        type_id = http.get("/block_types/slug/aws-credentials").json()["id"]
        schemas = http.post(
            "/block_schemas/filter", json={"block_schemas": {"block_type_id": {"any_": [type_id]}}}
        ).json()
        docs = [
            http.get(f"/block_types/slug/aws-credentials/block_documents/name/{name}-{side}")
            for side in ("skiff", "prefect")
        ]
    ours = [s for s in schemas if s["checksum"] == AwsCredentials.schema_checksum()]
    assert len(ours) == 1
    assert {d.json()["block_schema_id"] for d in docs} == {ours[0]["id"]}
    assert checksum_of(ours[0]["fields"]) == AwsCredentials.schema_checksum()


def test_secret_block_both_ways(api_env: str, name: str, run_prefect: Callable[[str], Any]) -> None:
    Secret(value="sk-skiff").save(f"{name}-s")
    script = f"""
import json
from prefect.blocks.system import Secret
got = Secret.load("{name}-s").get()
Secret(value={{"user": "u", "password": "p"}}).save("{name}-p")
print(json.dumps(got))
"""
    assert run_prefect(script) == "sk-skiff"
    assert Secret.load(f"{name}-p").get() == {"user": "u", "password": "p"}
    assert json.dumps(Secret.load(f"{name}-s").get()) == '"sk-skiff"'
