"""AwsCredentials and the AWS KMS key provider against moto's server mode on 127.0.0.1."""

from __future__ import annotations

import boto3
import httpx
import pytest

from skiff.blocks import AwsCredentials, AwsKmsKey, Secret
from skiff.blocks._crypto import PREFIX


def test_session_talks_to_moto_s3(aws_env: str) -> None:
    creds = AwsCredentials(
        aws_access_key_id="moto-key",
        aws_secret_access_key="moto-secret",
        region_name="us-east-1",
        aws_client_parameters={"endpoint_url": aws_env},
    )
    s3 = creds.get_client("s3")
    s3.create_bucket(Bucket="skiff-blocks")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "skiff-blocks" in names
    session = creds.get_boto3_session()
    assert session.get_credentials().secret_key == "moto-secret"


def test_assume_role_through_moto_sts(aws_env: str) -> None:
    creds = AwsCredentials(
        region_name="us-east-1",
        assume_role_arn="arn:aws:iam::123456789012:role/skiff",
        assume_role_kwargs={"DurationSeconds": 900},
        aws_client_parameters={"endpoint_url": aws_env},
    )
    assumed = creds.get_boto3_session().get_credentials()
    assert assumed.token  # temporary credentials from moto's STS


@pytest.mark.server
def test_kms_key_provider(
    aws_env: str, api_env: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("SKIFF_BLOCK_KEY", f"aws-kms:{key_arn}")

    Secret(value="kms-protected").save(name)
    with httpx.Client(base_url=api_env) as http:
        doc = http.get(f"/block_types/slug/secret/block_documents/name/{name}").json()
        raw = http.get(f"/block_documents/{doc['id']}", params={"include_secrets": "true"})
    assert raw.json()["data"]["value"].startswith(f"{PREFIX}{AwsKmsKey(key_arn).key_id}:")
    assert Secret.load(name).get() == "kms-protected"
