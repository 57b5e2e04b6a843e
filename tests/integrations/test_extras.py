"""A storage block whose SDK is missing says which extra to install."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from skiff import MissingExtraError
from skiff.blocks import (
    AwsCredentials,
    AzureBlobStorageContainer,
    AzureBlobStorageCredentials,
    GcpCredentials,
    GcsBucket,
    S3Bucket,
)

_AZURE = AzureBlobStorageCredentials(connection_string="UseDevelopmentStorage=true")


@pytest.mark.parametrize(
    ("modules", "extra", "block"),
    [
        (
            ["boto3", "botocore"],
            "aws",
            lambda: S3Bucket(bucket_name="b", credentials=AwsCredentials()),
        ),
        (
            ["google.cloud.storage"],
            "gcp",
            lambda: GcsBucket(bucket="b", gcp_credentials=GcpCredentials(project="p")),
        ),
        (
            ["azure.core", "azure.storage.blob"],
            "azure",
            lambda: AzureBlobStorageContainer(container_name="c", credentials=_AZURE),
        ),
    ],
)
@pytest.mark.parametrize("action", ["read", "write"])
def test_a_missing_sdk_names_the_extra(
    modules: list[str],
    extra: str,
    block: Callable[[], S3Bucket | GcsBucket | AzureBlobStorageContainer],
    action: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = block()  # building and loading blocks needs no SDK
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=rf"pip install 'skiff\[{extra}\]'"):
        storage.read_path("x") if action == "read" else storage.write_path("x", b"")
