"""AzureBlobStorageContainer: documents on the real server, blobs against azurite, and both
side by side with prefect-azure's block (azurite comes from scripts/_bootstrap.sh)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff.blocks import (
    AzureBlobStorageContainer,
    AzureBlobStorageCredentials,
    BucketNotFoundError,
    ObjectNotFoundError,
    StorageAuthError,
)
from tests.integrations.conftest import AZURITE_KEY


def _container(connection_string: str, name: str, folder: str | None = None) -> Any:
    credentials = AzureBlobStorageCredentials(connection_string=connection_string)
    return AzureBlobStorageContainer(
        container_name=name, base_folder=folder, credentials=credentials
    )


def test_write_then_read_under_the_folder(azurite: str, container: str) -> None:
    block = _container(azurite, container, "runs")
    assert block.write_path("a/result.json", b'{"x": 1}') == "runs/a/result.json"
    assert block.read_path("a/result.json") == b'{"x": 1}'
    block.write_path("a/result.json", b"replaced")  # overwrite, as prefect-azure's write_path
    assert asyncio.run(block.aread_path("a/result.json")) == b"replaced"
    assert asyncio.run(block.awrite_path("b", b"async")) == "runs/b"


def test_a_missing_blob_is_object_not_found(azurite: str, container: str) -> None:
    with pytest.raises(ObjectNotFoundError, match="no blob 'absent' in Azure container"):
        _container(azurite, container).read_path("absent")


@pytest.mark.parametrize("action", ["read", "write"])
def test_a_missing_container_names_the_fix(azurite: str, action: str) -> None:
    block = _container(azurite, "skiff-no-such-container")
    with pytest.raises(BucketNotFoundError, match="set container_name on the"):
        block.read_path("x") if action == "read" else block.write_path("x", b"")


def test_a_wrong_account_key_is_an_auth_error_without_the_key(azurite: str, container: str) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    block = _container(azurite.replace(AZURITE_KEY, wrong_key), container)
    with pytest.raises(StorageAuthError) as caught:
        block.write_path("x", b"never stored")
    assert "fix the block's credentials" in str(caught.value)
    assert wrong_key not in str(caught.value)


@pytest.mark.server
def test_the_document_round_trips_with_a_tagged_credentials(api_env: str, name: str) -> None:
    _container("UseDevelopmentStorage=true", "c", "f").save(name)
    loaded = AzureBlobStorageContainer.load(name)
    assert (loaded.container_name, loaded.base_folder) == ("c", "f")
    secret = loaded.credentials.connection_string
    assert secret is not None and secret.get_secret_value() == "UseDevelopmentStorage=true"
    with httpx.Client(base_url=api_env) as http:
        path = f"/block_types/slug/azure-blob-storage-container/block_documents/name/{name}"
        document = http.get(path).json()
    assert document["data"]["credentials"]["block_type_slug"] == "azure-blob-storage-credentials"
    assert document["data"]["credentials"]["connection_string"] == "********"  # a secret


PREFECT_SIDE = """
import json
from prefect_azure.blob_storage import AzureBlobStorageContainer
from prefect_azure.credentials import AzureBlobStorageCredentials
got = AzureBlobStorageContainer.load("{name}-skiff")
read = got.read_path("from-skiff").decode()
written = got.write_path("from-prefect", b"prefect bytes")
AzureBlobStorageContainer(
    container_name="pc",
    credentials=AzureBlobStorageCredentials(
        account_url="https://acct.blob.core.windows.net",
        client_id="i", tenant_id="t", client_secret="prefect-secret",
    ),
).save("{name}-prefect")
print(json.dumps([got.container_name, got.base_folder, read, written]))
"""


@pytest.mark.server
def test_documents_and_blobs_cross_with_prefect_azure(
    api_env: str, azurite: str, container: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    ours = _container(azurite, container, "f")
    ours.save(f"{name}-skiff")
    ours.write_path("from-skiff", b"skiff bytes")
    saw = run_prefect(PREFECT_SIDE.format(name=name))
    assert saw == [container, "f", "skiff bytes", None]  # prefect-azure's write_path returns None
    assert ours.read_path("from-prefect") == b"prefect bytes"
    theirs = AzureBlobStorageContainer.load(f"{name}-prefect")
    assert theirs.credentials.client_secret is not None
    assert theirs.credentials.client_secret.get_secret_value() == "prefect-secret"
