"""AWS: the ``S3Bucket`` storage block and its credentials (``pip install 'skiff[aws]'``).

Ports ``from prefect_aws import AwsCredentials, MinIOCredentials, S3Bucket`` unchanged::

    from skiff.integrations.aws import AwsCredentials, S3Bucket

    bucket = S3Bucket(bucket_name="results", credentials=AwsCredentials(region_name="eu-west-1"))
    key = bucket.write_path("answer.json", b"42")   # -> "answer.json"
    bucket.read_path("answer.json")                  # -> b"42"
"""

from __future__ import annotations

from skiff.blocks._aws import AssumeRoleParameters, AwsClientParameters, AwsCredentials
from skiff.integrations.aws.credentials import MinIOCredentials
from skiff.integrations.aws.s3 import S3Bucket

__all__ = [
    "AssumeRoleParameters",
    "AwsClientParameters",
    "AwsCredentials",
    "MinIOCredentials",
    "S3Bucket",
]
