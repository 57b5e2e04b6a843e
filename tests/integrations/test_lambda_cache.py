"""Caching across Lambda invocations: the real awslambdaric under skiff's emulator, results
on S3 (moto). The second invocation skips the cached task, the server records that task
run COMPLETED "Cached", and the handler returns the value read from S3."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
from tests.e2e.test_lambda_runtime import Runs

pytestmark = pytest.mark.server

APP = textwrap.dedent(
    """
    import os

    from skiff import task
    from skiff.adapters.aws_lambda import lambda_flow
    from skiff.blocks import AwsClientParameters, AwsCredentials
    from skiff.cache_policies import INPUTS
    from skiff.integrations.aws import S3Bucket

    storage = S3Bucket(
        bucket_name=os.environ["BUCKET"],
        bucket_folder="results",
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=os.environ["MOTO"]),
        ),
    )
    calls = []


    @task(cache_policy=INPUTS, result_storage=storage, persist_result=True)
    def square(x):
        calls.append(x)
        return {"x": x, "square": x * x}


    @lambda_flow
    def handler(event, context):
        calls.clear()
        return {"value": square(event["x"]), "called": bool(calls)}
    """
)


@pytest.fixture
def emulator(
    prefect_api_url: str, aws_env: str, s3_bucket: str, tmp_path: Path
) -> Iterator[LambdaEmulator]:
    (tmp_path / "app.py").write_text(APP)
    env = {
        "PREFECT_API_URL": prefect_api_url,
        "TMPDIR": "/tmp",
        "BUCKET": s3_bucket,
        "MOTO": aws_env,
    }
    config = FunctionConfig("cached", "app.handler", str(tmp_path), timeout=20.0, env=env)
    with LambdaEmulator([config], freeze=True) as emu:
        yield emu


def test_second_invocation_reads_the_cached_result_from_s3(
    emulator: LambdaEmulator, prefect_api_url: str, aws_env: str, s3_bucket: str
) -> None:
    import boto3

    runs = Runs(prefect_api_url)
    first = emulator.invoke("cached", {"x": 7})
    assert first.status == "success", first.payload
    assert first.payload == {"value": {"x": 7, "square": 49}, "called": True}
    [ran] = runs.task_runs(runs.final(first.request_id, tasks=1).id)
    assert (ran.state_type, ran.state_name) == ("COMPLETED", "Completed")

    # The record is changed behind skiff's back: the hit must return what S3 holds.
    s3 = boto3.client("s3", endpoint_url=aws_env)
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    record = json.loads(s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    record["result"] = json.dumps({"x": 7, "square": "read from S3"})
    s3.put_object(Bucket=s3_bucket, Key=key, Body=json.dumps(record).encode())

    second = emulator.invoke("cached", {"x": 7})
    assert second.status == "success", second.payload
    assert second.payload == {"value": {"x": 7, "square": "read from S3"}, "called": False}
    [cached] = runs.task_runs(runs.final(second.request_id, tasks=1).id)
    assert (cached.state_type, cached.state_name) == ("COMPLETED", "Cached")
