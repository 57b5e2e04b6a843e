"""S3Bucket against moto's server, and side by side with prefect-aws's S3Bucket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest

from skiff.blocks import (
    AwsCredentials,
    BucketNotFoundError,
    MinIOCredentials,
    ObjectNotFoundError,
    S3Bucket,
    StorageAuthError,
    StorageError,
)
from tests.integrations.conftest import _port, moto_credentials


def test_write_then_read_under_the_folder(aws_env: str, s3_bucket: str) -> None:
    bucket = S3Bucket(
        bucket_name=s3_bucket, bucket_folder="runs", credentials=moto_credentials(aws_env)
    )
    assert bucket.write_path("a/result.json", b'{"x": 1}') == "runs/a/result.json"
    assert bucket.read_path("a/result.json") == b'{"x": 1}'
    assert bucket.read_path("runs/a/result.json") == b'{"x": 1}'  # a resolved key reads too
    raw = boto3.client("s3", endpoint_url=aws_env).get_object(
        Bucket=s3_bucket, Key="runs/a/result.json"
    )
    assert raw["Body"].read() == b'{"x": 1}'

    bucket.write_path("a/result.json", b"replaced")
    assert asyncio.run(bucket.aread_path("a/result.json")) == b"replaced"
    assert asyncio.run(bucket.awrite_path("b", b"async")) == "runs/b"
    assert bucket.read_path("b") == b"async"


def test_minio_credentials_sign_for_an_s3_compatible_service(aws_env: str, s3_bucket: str) -> None:
    minio = MinIOCredentials(
        minio_root_user="root",
        minio_root_password="root-password",
        region_name="us-east-1",
        aws_client_parameters={"endpoint_url": aws_env},
    )
    bucket = S3Bucket(bucket_name=s3_bucket, credentials=minio)
    assert bucket.write_path("m", b"minio") == "m"
    assert bucket.read_path("m") == b"minio"


def test_a_missing_object_is_object_not_found(aws_env: str, s3_bucket: str) -> None:
    bucket = S3Bucket(
        bucket_name=s3_bucket, bucket_folder="f", credentials=moto_credentials(aws_env)
    )
    with pytest.raises(
        ObjectNotFoundError, match=f"no object 'f/absent' in S3 bucket '{s3_bucket}'"
    ):
        bucket.read_path("absent")


@pytest.mark.parametrize("action", ["read", "write"])
def test_a_missing_bucket_names_the_fix(aws_env: str, action: str) -> None:
    bucket = S3Bucket(bucket_name="skiff-no-such-bucket", credentials=moto_credentials(aws_env))
    with pytest.raises(BucketNotFoundError) as caught:
        bucket.read_path("x") if action == "read" else bucket.write_path("x", b"")
    assert "S3 bucket 'skiff-no-such-bucket' does not exist" in str(caught.value)
    assert "set bucket_name on the S3Bucket block" in str(caught.value)


@pytest.mark.parametrize("action", ["read", "write"])
def test_wrong_credentials_are_an_auth_error_without_the_secret(
    moto_checking: str, aws_env: str, action: str
) -> None:
    bucket = S3Bucket(bucket_name="any", credentials=moto_credentials(moto_checking))
    with pytest.raises(StorageAuthError) as caught:
        bucket.read_path("x") if action == "read" else bucket.write_path("x", b"")
    message = str(caught.value)
    assert "(InvalidAccessKeyId)" in message
    assert "fix the S3Bucket block's credentials" in message
    assert "moto-secret-value" not in message


def test_no_credentials_anywhere_is_an_auth_error(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = AwsCredentials(aws_client_parameters={"endpoint_url": aws_env})
    with pytest.raises(StorageAuthError, match=r"no usable AWS credentials.*AWS_ACCESS_KEY_ID"):
        S3Bucket(bucket_name="any", credentials=credentials).read_path("x")


def test_an_unreachable_endpoint_is_a_storage_error(aws_env: str) -> None:
    closed = f"http://127.0.0.1:{_port()}"  # free: nothing listens there
    credentials = moto_credentials(closed, config={"retries": {"max_attempts": 1}})
    with pytest.raises(StorageError, match=r"cannot reach S3 .*endpoint_url"):
        S3Bucket(bucket_name="any", credentials=credentials).read_path("x")


# -- with prefect-aws, on the same server and the same moto -------------------------------

PREFECT_SIDE = """
import json
from prefect_aws import AwsCredentials, MinIOCredentials
from prefect_aws.s3 import S3Bucket
got = S3Bucket.load("{name}-skiff")
read = got.read_path("from-skiff.json").decode()
written = got.write_path("from-prefect.json", b"prefect bytes")
S3Bucket(
    bucket_name="{bucket}",
    bucket_folder="prefect-folder",
    credentials=MinIOCredentials(
        minio_root_user="root", minio_root_password="pw", region_name="us-east-1",
        aws_client_parameters={{"endpoint_url": "{endpoint}"}},
    ),
).save("{name}-prefect")
print(json.dumps({{
    "credentials": type(got.credentials).__name__,
    "secret": got.credentials.aws_secret_access_key.get_secret_value(),
    "folder": got.bucket_folder,
    "read": read,
    "written": written,
}}))
"""


@pytest.mark.server
def test_documents_and_objects_cross_between_skiff_and_prefect(
    api_env: str, aws_env: str, s3_bucket: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    ours = S3Bucket(
        bucket_name=s3_bucket, bucket_folder="skiff-folder", credentials=moto_credentials(aws_env)
    )
    ours.save(f"{name}-skiff")
    ours.write_path("from-skiff.json", b"skiff bytes")

    theirs_saw = run_prefect(PREFECT_SIDE.format(name=name, bucket=s3_bucket, endpoint=aws_env))
    assert theirs_saw == {
        "credentials": "AwsCredentials",
        "secret": "moto-secret-value",
        "folder": "skiff-folder",
        "read": "skiff bytes",
        "written": "skiff-folder/from-prefect.json",
    }
    assert ours.read_path("from-prefect.json") == b"prefect bytes"

    theirs = S3Bucket.load(f"{name}-prefect")
    assert isinstance(theirs.credentials, MinIOCredentials)
    assert theirs.credentials.minio_root_password.get_secret_value() == "pw"
    assert theirs.write_path("x", b"through prefect's document") == "prefect-folder/x"
    raw = boto3.client("s3", endpoint_url=aws_env).get_object(
        Bucket=s3_bucket, Key="prefect-folder/x"
    )
    assert raw["Body"].read() == b"through prefect's document"

    # One schema row, and the nested credentials tagged with their slug on both sides.
    with httpx.Client(base_url=api_env) as http:
        docs = [
            http.get(f"/block_types/slug/s3-bucket/block_documents/name/{name}-{side}").json()
            for side in ("skiff", "prefect")
        ]
    assert docs[0]["block_schema_id"] == docs[1]["block_schema_id"]
    assert docs[0]["data"]["credentials"]["block_type_slug"] == "aws-credentials"
    assert docs[1]["data"]["credentials"]["block_type_slug"] == "minio-credentials"
    assert (
        set(docs[0]["data"])
        == set(docs[1]["data"])
        == {
            "bucket_name",
            "bucket_folder",
            "credentials",
        }
    )


PREFECT_REFERENCE = """
import json
from prefect_aws import AwsCredentials
from prefect_aws.s3 import S3Bucket
AwsCredentials(
    aws_access_key_id="moto-key", aws_secret_access_key="referenced-secret",
    region_name="us-east-1", aws_client_parameters={{"endpoint_url": "{endpoint}"}},
).save("{name}-creds")
S3Bucket(bucket_name="{bucket}", credentials=AwsCredentials.load("{name}-creds")).save("{name}")
print(json.dumps("saved"))
"""


@pytest.mark.server
def test_a_prefect_bucket_referencing_saved_credentials_loads(
    api_env: str, aws_env: str, s3_bucket: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    # What the UI makes: the bucket's credentials are a separate, named document.
    run_prefect(PREFECT_REFERENCE.format(name=name, bucket=s3_bucket, endpoint=aws_env))
    bucket = S3Bucket.load(name)
    assert isinstance(bucket.credentials, AwsCredentials)
    assert bucket.credentials.aws_secret_access_key is not None
    assert bucket.credentials.aws_secret_access_key.get_secret_value() == "referenced-secret"
    assert bucket.write_path("via-reference", b"ok") == "via-reference"
    assert bucket.read_path("via-reference") == b"ok"
