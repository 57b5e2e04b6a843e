"""Result records shared with real Prefect 3.9.1 on the GCS emulator (prefect-gcp) and azurite
(prefect-azure): the same crossings as test_results_interop's S3 case.

Each way: a skiff task persists and Prefect's task with the same INPUTS key is Cached with
the stored value; Prefect's tasks persist (json, pickle) and skiff's are Cached with theirs
(the pickle one with the setting: without it, on these READ_COMMITTED stores, skiff's run
replaces the record, as Prefect's would).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from skiff.blocks import (
    AzureBlobStorageContainer,
    AzureBlobStorageCredentials,
    GcpCredentials,
    GcsBucket,
    WritableFileSystem,
)
from tests.integrations.test_results_interop import PREFECT_SIDE, _read_back, _skiff_side

pytestmark = pytest.mark.server

# prefect-gcp's GcpCredentials asks Application Default Credentials when it is built; the
# emulator needs none.
GCS_PRELUDE = """
import google.auth
from google.auth.credentials import AnonymousCredentials
google.auth.default = lambda *args, **kwargs: (AnonymousCredentials(), "skiff-test")
"""


@pytest.fixture
def saved(api_env: str) -> Iterator[Any]:
    """Save a block under a fresh name for the test; yields ``save(block) -> slug``."""
    blocks: list[WritableFileSystem] = []

    def save(block: WritableFileSystem) -> str:
        name = f"interop-{uuid.uuid4().hex[:10]}"
        block.save(name)
        blocks.append(block)
        return f"{block.get_block_type_slug()}/{name}"

    yield save
    for block in blocks:
        block._delete_saved()


def _cross(slug: str, prelude: str, run_prefect: Any, monkeypatch: Any) -> None:
    value, run_id = _skiff_side(slug, persist_flow=True)
    assert value == {"x": 7, "square": 49}
    script = f"import json\n{prelude}\nstorage = {slug!r}\n"
    out: Any = run_prefect(script + PREFECT_SIDE.format(flow_run_id=run_id))
    assert (out["name"], out["value"], out["called"]) == ("Cached", value, [])
    assert out["flow"] == [value, run_id]  # the flow's JSON result, via storage_block_id
    _read_back(slug, monkeypatch, write_once=False)


def test_gcs_records_cross_both_ways(
    gcs_env: str, saved: Any, run_prefect: Any, monkeypatch: Any
) -> None:
    bucket = GcsBucket(
        bucket=gcs_env, bucket_folder="interop", gcp_credentials=GcpCredentials(project="p")
    )
    _cross(saved(bucket), GCS_PRELUDE, run_prefect, monkeypatch)
    assert bucket.read_path("from-prefect-json").startswith(b'{"metadata"')


def test_azure_blob_records_cross_both_ways(
    azurite: str, container: str, saved: Any, run_prefect: Any, monkeypatch: Any
) -> None:
    blobs = AzureBlobStorageContainer(
        container_name=container,
        base_folder="interop",
        credentials=AzureBlobStorageCredentials(connection_string=azurite),
    )
    _cross(saved(blobs), "", run_prefect, monkeypatch)
    assert blobs.read_path("from-prefect-json").startswith(b'{"metadata"')
