"""GcsBucket against gcp-storage-emulator, and side by side with prefect-gcp's GcsBucket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import storage

from skiff.blocks import (
    BucketNotFoundError,
    GcpCredentials,
    GcsBucket,
    ObjectNotFoundError,
    StorageAuthError,
)
from tests.integrations.conftest import service_account_info

PROJECT = GcpCredentials(project="skiff-test")


def test_write_then_read_under_the_folder(gcs_env: str) -> None:
    bucket = GcsBucket(bucket=gcs_env, bucket_folder="runs", gcp_credentials=PROJECT)
    assert bucket.bucket_folder == "runs/"  # as prefect-gcp normalises it
    assert bucket.write_path("a/result.json", b'{"x": 1}') == "runs/a/result.json"
    assert bucket.read_path("a/result.json") == b'{"x": 1}'
    assert bucket.read_path("runs/a/result.json") == b'{"x": 1}'
    blob = storage.Client(project="skiff-test").bucket(gcs_env).blob("runs/a/result.json")
    assert blob.download_as_bytes() == b'{"x": 1}'

    bucket.write_path("a/result.json", b"replaced")
    assert asyncio.run(bucket.aread_path("a/result.json")) == b"replaced"
    assert asyncio.run(bucket.awrite_path("b", b"async")) == "runs/b"


def test_a_missing_object_is_object_not_found(gcs_env: str) -> None:
    bucket = GcsBucket(bucket=gcs_env, gcp_credentials=PROJECT)
    with pytest.raises(ObjectNotFoundError, match=f"no object 'absent' in GCS bucket '{gcs_env}'"):
        bucket.read_path("absent")


@pytest.mark.parametrize("action", ["read", "write"])
def test_a_missing_bucket_names_the_fix(gcs_env: str, action: str) -> None:
    bucket = GcsBucket(bucket="skiff-no-such-bucket", gcp_credentials=PROJECT)
    with pytest.raises(BucketNotFoundError) as caught:
        bucket.read_path("x") if action == "read" else bucket.write_path("x", b"")
    assert "GCS bucket 'skiff-no-such-bucket' does not exist" in str(caught.value)
    assert "set bucket on the GcsBucket block" in str(caught.value)


def test_refused_credentials_are_an_auth_error_without_the_key(
    gcs_env: str, token_uri: str
) -> None:
    info = service_account_info(token_uri)
    bucket = GcsBucket(bucket=gcs_env, gcp_credentials={"service_account_info": info})
    with pytest.raises(StorageAuthError) as caught:
        bucket.write_path("x", b"never stored")
    message = str(caught.value)
    assert "GCS refused to write 'x'" in message and "(RefreshError)" in message
    assert "service_account_info" in message
    assert info["private_key"].splitlines()[1] not in message


def test_an_unusable_key_is_an_auth_error(gcs_env: str) -> None:
    broken = GcpCredentials(service_account_info={"type": "service_account", "project_id": "p"})
    with pytest.raises(StorageAuthError, match="not a usable service account key"):
        GcsBucket(bucket=gcs_env, gcp_credentials=broken).read_path("x")


@pytest.mark.server
def test_the_document_round_trips_with_a_tagged_credentials(api_env: str, name: str) -> None:
    GcsBucket(bucket="b", bucket_folder="f", gcp_credentials=PROJECT).save(name)
    loaded = GcsBucket.load(name)
    assert (loaded.bucket, loaded.bucket_folder, loaded.gcp_credentials.project) == (
        "b",
        "f/",
        "skiff-test",
    )
    data = loaded.model_dump(mode="json")
    assert data["gcp_credentials"]["block_type_slug"] == "gcp-credentials"  # as Prefect saves it


# prefect-gcp with no key asks Application Default Credentials; the emulator needs none.
PREFECT_SIDE = """
import json
import google.auth
from google.auth.credentials import AnonymousCredentials
google.auth.default = lambda *args, **kwargs: (AnonymousCredentials(), "skiff-test")
from prefect_gcp.cloud_storage import GcsBucket
got = GcsBucket.load("{name}-skiff")
read = got.read_path("from-skiff").decode()
written = got.write_path("from-prefect", b"prefect bytes")
got.save("{name}-prefect")
print(json.dumps({{"folder": got.bucket_folder, "read": read, "written": written}}))
"""


@pytest.mark.server
def test_objects_and_documents_cross_with_prefect_gcp(
    api_env: str, gcs_env: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    ours = GcsBucket(bucket=gcs_env, bucket_folder="skiff", gcp_credentials=PROJECT)
    ours.save(f"{name}-skiff")
    ours.write_path("from-skiff", b"skiff bytes")
    assert run_prefect(PREFECT_SIDE.format(name=name)) == {
        "folder": "skiff/",
        "read": "skiff bytes",
        "written": "skiff/from-prefect",
    }
    assert ours.read_path("from-prefect") == b"prefect bytes"
    assert GcsBucket.load(f"{name}-prefect").read_path("from-skiff") == b"skiff bytes"
