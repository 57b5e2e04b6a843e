"""AWS: credentials, the ``S3Bucket`` storage block, the ``AwsSecret`` Secrets Manager block
and the ``AwsKmsKey`` block-encryption key (``pip install 'skiff[aws]'``).

Ports ``from prefect_aws import AwsCredentials, AwsSecret, MinIOCredentials, S3Bucket``
unchanged::

    from skiff.integrations.aws import AwsCredentials, S3Bucket

    bucket = S3Bucket(bucket_name="results", credentials=AwsCredentials(region_name="eu-west-1"))
    key = bucket.write_path("answer.json", b"42")   # -> "answer.json"
    bucket.read_path("answer.json")                  # -> b"42"
"""

from __future__ import annotations

from skiff.integrations.aws.assume_role_parameters import AssumeRoleParameters
from skiff.integrations.aws.client_parameters import AwsClientParameters
from skiff.integrations.aws.credentials import AwsCredentials, MinIOCredentials
from skiff.integrations.aws.kms import AwsKmsKey
from skiff.integrations.aws.s3 import S3Bucket
from skiff.integrations.aws.secrets_manager import AwsSecret

__all__ = [
    "AssumeRoleParameters",
    "AwsClientParameters",
    "AwsCredentials",
    "AwsKmsKey",
    "AwsSecret",
    "MinIOCredentials",
    "S3Bucket",
]
