"""Caching across invocations: a second flow run, in a new process, hits the record the first
one persisted on S3 (moto), GCS (the emulator) or a local folder, and the real server
records that task run COMPLETED "Cached"; the value comes from the storage."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integrations._results_support import run_skiff, task_runs_of

# One flow, run twice: a task cached on its inputs, persisting to the storage STORAGE builds.
SCRIPT = """
import json, os
from skiff import flow, flush, task
from skiff.cache_policies import INPUTS
from skiff.runtime import flow_run

{storage}

called = []

@task(cache_policy=INPUTS, result_storage=storage, persist_result=True)
def square(x: int) -> dict:
    called.append(x)
    return {{"x": x, "square": x * x}}

@flow(name=os.environ["FLOW_NAME"])
def squares(x: int):
    return square(x), flow_run.id

value, run_id = squares(7)
assert flush(10)
print(json.dumps({{"value": value, "called": bool(called), "run_id": run_id}}))
"""

S3 = """
from skiff.blocks import AwsClientParameters, AwsCredentials
from skiff.integrations.aws import S3Bucket
storage = S3Bucket(
    bucket_name=os.environ["BUCKET"],
    bucket_folder="results",
    credentials=AwsCredentials(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=os.environ["MOTO"]),
    ),
)
"""

GCS = """
from skiff.blocks import GcpCredentials
from skiff.integrations.gcp import GcsBucket
storage = GcsBucket(
    bucket=os.environ["BUCKET"], bucket_folder="results",
    gcp_credentials=GcpCredentials(project="skiff-test"),
)
"""

LOCAL = """
from skiff.blocks import LocalFileSystem
storage = LocalFileSystem(basepath=os.environ["FOLDER"])
"""


def _twice(api_env: str, storage: str, env: dict[str, str], tamper: Any) -> None:
    env = {**env, "FLOW_NAME": f"cache-across-{uuid.uuid4().hex[:8]}"}
    first = run_skiff(SCRIPT.format(storage=storage), env)
    assert first["called"] and first["value"] == {"x": 7, "square": 49}
    [ran] = task_runs_of(api_env, first["run_id"])
    assert (ran["state_type"], ran["state_name"]) == ("COMPLETED", "Completed")
    # As in Prefect's events, the final state carries the record's metadata (the UI's result).
    record = ran["state"]["data"]
    assert record["serializer"]["type"] == "json" and record["storage_key"]
    # The stored record is changed behind skiff's back: a hit must return what is stored.
    tamper({"x": 7, "square": "from storage"})
    second = run_skiff(SCRIPT.format(storage=storage), env)
    assert not second["called"]
    assert second["value"] == {"x": 7, "square": "from storage"}
    [cached] = task_runs_of(api_env, second["run_id"])
    assert (cached["state_type"], cached["state_name"]) == ("COMPLETED", "Cached")
    assert cached["state"]["data"]["storage_key"] == record["storage_key"]


def _retold(record: bytes, value: Any) -> bytes:
    data = json.loads(record)
    data["result"] = json.dumps(value)
    return json.dumps(data).encode()


def test_s3_second_run_is_cached(api_env: str, aws_env: str, s3_bucket: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env)

    def tamper(value: Any) -> None:
        [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
        assert key.startswith("results/")
        body = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert json.loads(body)["metadata"]["storage_key"] == key
        s3.put_object(Bucket=s3_bucket, Key=key, Body=_retold(body, value))

    _twice(api_env, S3, {"BUCKET": s3_bucket, "MOTO": aws_env}, tamper)


def test_gcs_second_run_is_cached(api_env: str, gcs_env: str) -> None:
    from google.cloud import storage

    bucket = storage.Client(project="skiff-test").bucket(gcs_env)

    def tamper(value: Any) -> None:
        [blob] = list(bucket.list_blobs())
        assert blob.name.startswith("results/")
        blob.upload_from_string(_retold(blob.download_as_bytes(), value))

    _twice(api_env, GCS, {"BUCKET": gcs_env}, tamper)


def test_local_file_system_second_run_is_cached(api_env: str, tmp_path: Path) -> None:
    def tamper(value: Any) -> None:
        [path] = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        assert json.loads(path.read_bytes())["metadata"]["storage_key"] == str(path)
        path.write_bytes(_retold(path.read_bytes(), value))

    _twice(api_env, LOCAL, {"FOLDER": str(tmp_path)}, tamper)


@pytest.fixture
def saved_s3(api_env: str, aws_env: str, s3_bucket: str) -> Any:
    from tests.integrations._results_support import s3_block

    block = s3_block(aws_env, s3_bucket, "saved")
    name = f"results-{uuid.uuid4().hex[:10]}"
    block.save(name)
    yield f"s3-bucket/{name}", block
    block._delete_saved()


def test_a_slug_loads_the_block_and_records_its_id(api_env: str, saved_s3: tuple[str, Any]) -> None:
    from skiff import flow, task

    slug, block = saved_s3

    @task(cache_key_fn=lambda ctx, params: f"slug-{params['x']}", result_storage=slug)
    def echo(x: int) -> int:
        return x

    @flow
    def run(x: int) -> tuple[str, int]:
        state = echo(x, return_state=True)
        return state.name, state.result()

    assert run(5) == ("Completed", 5)
    record = json.loads(block.read_path("slug-5"))
    # A saved block: the key is recorded as given, with the block's id (Prefect's rule).
    assert record["metadata"]["storage_key"] == "slug-5"
    assert record["metadata"]["storage_block_id"] == str(block._block_document_id)
    assert run(5) == ("Cached", 5)
