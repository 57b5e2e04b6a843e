"""The storage and secret blocks' schemas are Prefect's: same checksums, versions, capabilities,
slugs, descriptions and registered rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff.blocks import (
    AwsSecret,
    AzureBlobStorageContainer,
    Block,
    GcpSecret,
    GcsBucket,
    LocalFileSystem,
    MinIOCredentials,
    S3Bucket,
)

pytestmark = pytest.mark.server

CAPABILITIES = ["get-directory", "put-directory", "read-path", "write-path"]

# One process of real Prefect (with prefect-aws, prefect-gcp and prefect-azure) for them all.
PREFECT_SIDE = """
import json
from prefect.filesystems import LocalFileSystem
from prefect_aws import MinIOCredentials
from prefect_aws.s3 import S3Bucket
from prefect_aws.secrets_manager import AwsSecret
from prefect_azure.blob_storage import AzureBlobStorageContainer
from prefect_gcp.cloud_storage import GcsBucket
from prefect_gcp.secret_manager import GcpSecret
print(json.dumps({
    c.__name__: [c._calculate_schema_checksum(), c.get_block_schema_version(),
                 sorted(c.get_block_capabilities()), c.get_block_type_slug(),
                 c.get_description()]
    for c in (S3Bucket, MinIOCredentials, LocalFileSystem, GcsBucket,
              AzureBlobStorageContainer, AwsSecret, GcpSecret)
}))
"""
STORAGE = (S3Bucket, LocalFileSystem, GcsBucket, AzureBlobStorageContainer)
BLOCKS = (*STORAGE, MinIOCredentials, AwsSecret, GcpSecret)


def _facts(block: type[Block]) -> list[Any]:
    return [
        block.schema_checksum(),
        block.get_block_schema_version(),
        sorted(block.get_block_capabilities()),
        block.get_block_type_slug(),
        block.get_description(),
    ]


def test_schemas_equal_prefects(run_prefect: Callable[[str], Any]) -> None:
    theirs = run_prefect(PREFECT_SIDE)
    assert theirs == {block.__name__: _facts(block) for block in BLOCKS}
    assert all(theirs[block.__name__][2] == CAPABILITIES for block in STORAGE)


@pytest.mark.parametrize(
    "block", [S3Bucket, MinIOCredentials, LocalFileSystem, GcsBucket, AzureBlobStorageContainer]
)
def test_registered_rows_carry_prefects_version_and_capabilities(
    block: type[Block], api_env: str
) -> None:
    _, schema_id = block.register_type_and_schema()
    with httpx.Client(base_url=api_env) as http:
        row = http.get(f"/block_schemas/{schema_id}").json()
    assert row["checksum"] == block.schema_checksum()
    assert row["version"] == block.get_block_schema_version()
    expected = [] if block is MinIOCredentials else CAPABILITIES
    assert sorted(row["capabilities"]) == expected
    assert row["block_type"]["slug"] == block.get_block_type_slug()
