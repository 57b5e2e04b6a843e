"""AwsSecret against moto's Secrets Manager, and side by side with prefect-aws's AwsSecret."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest

from skiff import MissingExtraError, ValidationError
from skiff.blocks import (
    AwsCredentials,
    AwsSecret,
    SecretAuthError,
    SecretError,
    SecretNotFoundError,
)
from tests.integrations.conftest import _port, moto_credentials


@pytest.fixture
def secret_name() -> str:
    return f"skiff-{uuid.uuid4().hex[:12]}"


def test_write_read_and_delete(aws_env: str, secret_name: str) -> None:
    secret = AwsSecret(aws_credentials=moto_credentials(aws_env), secret_name=secret_name)
    arn = secret.write_secret(b"first")  # creates it
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:") and secret_name in arn
    assert secret.read_secret() == b"first"
    assert asyncio.run(secret.awrite_secret(b"second")) == arn  # a new version
    assert asyncio.run(secret.aread_secret()) == b"second"
    assert secret.read_secret(version_stage="AWSPREVIOUS") == b"first"

    assert secret.delete_secret(force_delete_without_recovery=True) == arn
    with pytest.raises(SecretNotFoundError, match="write it first, or set secret_name"):
        secret.read_secret()


def test_a_string_secret_reads_as_its_utf8(aws_env: str, secret_name: str) -> None:
    client = boto3.client("secretsmanager", endpoint_url=aws_env)
    client.create_secret(Name=secret_name, SecretString="pässword")
    secret = AwsSecret(aws_credentials=moto_credentials(aws_env), secret_name=secret_name)
    assert secret.read_secret() == "pässword".encode()


def test_a_scheduled_deletion_takes_a_window_of_7_to_30_days(
    aws_env: str, secret_name: str
) -> None:
    secret = AwsSecret(aws_credentials=moto_credentials(aws_env), secret_name=secret_name)
    arn = secret.write_secret(b"x")
    with pytest.raises(ValidationError, match="between 7 and 30, got 3"):
        secret.delete_secret(recovery_window_in_days=3)
    assert asyncio.run(secret.adelete_secret(recovery_window_in_days=7)) == arn
    deleted = boto3.client("secretsmanager", endpoint_url=aws_env).describe_secret(
        SecretId=secret_name
    )
    assert "DeletedDate" in deleted


def test_a_missing_secret_names_the_fix(aws_env: str) -> None:
    secret = AwsSecret(aws_credentials=moto_credentials(aws_env), secret_name="skiff-absent")
    with pytest.raises(SecretNotFoundError) as caught:
        secret.read_secret()
    assert "the secret 'skiff-absent' in AWS Secrets Manager" in str(caught.value)
    assert isinstance(caught.value, LookupError)


@pytest.mark.parametrize("action", ["read", "write"])
def test_refused_credentials_are_an_auth_error_without_the_key(
    moto_checking: str, action: str
) -> None:
    secret = AwsSecret(aws_credentials=moto_credentials(moto_checking), secret_name="s")
    with pytest.raises(SecretAuthError) as caught:
        secret.read_secret() if action == "read" else secret.write_secret(b"never stored")
    message = str(caught.value)
    assert f"AWS refused to {action} the secret 's'" in message
    assert "fix the block's aws_credentials" in message
    assert "moto-secret-value" not in message


def test_no_credentials_anywhere_is_an_auth_error(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = AwsCredentials(
        region_name="us-east-1", aws_client_parameters={"endpoint_url": aws_env}
    )
    with pytest.raises(SecretAuthError, match=r"no usable AWS credentials.*AWS_ACCESS_KEY_ID"):
        AwsSecret(aws_credentials=credentials, secret_name="s").read_secret()


def test_an_unreachable_endpoint_is_a_secret_error(aws_env: str) -> None:
    closed = f"http://127.0.0.1:{_port()}"  # free: nothing listens there
    credentials = moto_credentials(closed, config={"retries": {"max_attempts": 1}})
    with pytest.raises(SecretError, match=r"cannot reach Secrets Manager .*endpoint_url"):
        AwsSecret(aws_credentials=credentials, secret_name="s").read_secret()


# -- with prefect-aws, on the same server and the same moto -------------------------------

PREFECT_SIDE = """
import json
from prefect_aws import AwsCredentials
from prefect_aws.secrets_manager import AwsSecret
got = AwsSecret.load("{name}-skiff")
read = got.read_secret()
got.write_secret(b"written by prefect")
AwsSecret(
    aws_credentials=AwsCredentials(
        aws_access_key_id="k", aws_secret_access_key="prefect-side-key", region_name="us-east-1",
        aws_client_parameters={{"endpoint_url": "{endpoint}"}},
    ),
    secret_name="{secret}",
).save("{name}-prefect")
print(json.dumps({{
    "secret_name": got.secret_name,
    "key": got.aws_credentials.aws_secret_access_key.get_secret_value(),
    "read": read.decode(),
}}))
"""


@pytest.mark.server
def test_documents_and_values_cross_with_prefect_aws(
    api_env: str, aws_env: str, secret_name: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    ours = AwsSecret(aws_credentials=moto_credentials(aws_env), secret_name=secret_name)
    ours.save(f"{name}-skiff")
    ours.write_secret(b"written by skiff")

    saw = run_prefect(PREFECT_SIDE.format(name=name, secret=secret_name, endpoint=aws_env))
    assert saw == {
        "secret_name": secret_name,
        "key": "moto-secret-value",
        "read": "written by skiff",
    }
    theirs = AwsSecret.load(f"{name}-prefect")
    secret_key = theirs.aws_credentials.aws_secret_access_key
    assert secret_key is not None and secret_key.get_secret_value() == "prefect-side-key"
    assert theirs.read_secret() == b"written by prefect"

    with httpx.Client(base_url=api_env) as http:
        docs = [
            http.get(f"/block_types/slug/aws-secret/block_documents/name/{name}-{side}").json()
            for side in ("skiff", "prefect")
        ]
    assert docs[0]["block_schema_id"] == docs[1]["block_schema_id"]  # one schema row
    assert docs[0]["data"]["aws_credentials"]["aws_secret_access_key"] == "********"


@pytest.mark.parametrize("action", ["read", "write", "delete"])
def test_a_missing_sdk_names_the_extra(action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = AwsSecret(aws_credentials=AwsCredentials(), secret_name="s")  # building needs none
    for module in ("boto3", "botocore"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=r"pip install 'skiff\[aws\]'"):
        if action == "read":
            secret.read_secret()
        elif action == "write":
            secret.write_secret(b"x")
        else:
            secret.delete_secret()
