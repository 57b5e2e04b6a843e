"""The storage blocks' schemas are Prefect's: same checksums, versions, capabilities, rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff.blocks import (
    AzureBlobStorageContainer,
    Block,
    GcsBucket,
    LocalFileSystem,
    MinIOCredentials,
    S3Bucket,
)

pytestmark = pytest.mark.server

CAPABILITIES = ["get-directory", "put-directory", "read-path", "write-path"]

# Measured with prefect 3.9.1 and prefect-gcp 0.6.22 / prefect-azure 0.4.13.
KNOWN = {
    GcsBucket: "sha256:d85725d2d729e079228cea21a25f61f073681a6c590a074c99985d3a9274a225",
    AzureBlobStorageContainer: (
        "sha256:c0b3c90cfca7b8433ace9a27055b53901b69f465077b2d3e9c84e22f01138d1f"
    ),
}

PREFECT_AWS = """
import json
from prefect.filesystems import LocalFileSystem
from prefect_aws import MinIOCredentials
from prefect_aws.s3 import S3Bucket
print(json.dumps({
    c.__name__: [c._calculate_schema_checksum(), c.get_block_schema_version(),
                 sorted(c.get_block_capabilities()), c.get_block_type_slug(),
                 c.get_description()]
    for c in (S3Bucket, MinIOCredentials, LocalFileSystem)
}))
"""

PREFECT_OTHERS = """
import json
from prefect_{cloud} import {module}
c = {module}.{name}
print(json.dumps([c._calculate_schema_checksum(), c.get_block_schema_version(),
                  sorted(c.get_block_capabilities())]))
"""


def _facts(block: type[Block]) -> list[Any]:
    return [
        block.schema_checksum(),
        block.get_block_schema_version(),
        sorted(block.get_block_capabilities()),
        block.get_block_type_slug(),
        block.get_description(),
    ]


def test_aws_and_local_schemas_equal_prefects(run_prefect: Callable[[str], Any]) -> None:
    theirs = run_prefect(PREFECT_AWS)
    assert theirs == {
        "S3Bucket": _facts(S3Bucket),
        "MinIOCredentials": _facts(MinIOCredentials),
        "LocalFileSystem": _facts(LocalFileSystem),
    }
    assert theirs["S3Bucket"][2] == CAPABILITIES


@pytest.mark.parametrize(
    ("block", "cloud", "module"),
    [(GcsBucket, "gcp", "cloud_storage"), (AzureBlobStorageContainer, "azure", "blob_storage")],
)
def test_gcp_and_azure_schemas_equal_prefects(
    block: type[Block],
    cloud: str,
    module: str,
    run_prefect: Callable[[str], Any],
) -> None:
    assert block.schema_checksum() == KNOWN[block]
    assert sorted(block.get_block_capabilities()) == CAPABILITIES
    script = PREFECT_OTHERS.format(cloud=cloud, module=module, name=block.__name__)
    assert run_prefect(script) == _facts(block)[:3]


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
