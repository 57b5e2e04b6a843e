"""AWS credential blocks: ``AwsCredentials`` and ``MinIOCredentials`` (as ``prefect_aws.credentials``).

``MinIOCredentials`` (slug ``minio-credentials``) is one of the two credentials an
``S3Bucket`` takes; its fields, descriptions and description text are part of the bucket's
schema checksum and are kept identical to prefect-aws 0.7.12.
"""

from __future__ import annotations

from typing import Any, Optional

import pydantic
from pydantic import Field

from skiff.blocks._aws import AwsClientParameters, AwsCredentials, _boto3
from skiff.blocks._core import Block

__all__ = ["AwsCredentials", "MinIOCredentials"]


class MinIOCredentials(Block):
    """
    Block used to manage authentication with MinIO, or another S3-compatible service
    that takes a root user and password.

    Example:
        ```python
        from skiff.integrations.aws import MinIOCredentials

        s3 = MinIOCredentials.load("BLOCK_NAME").get_s3_client()
        ```
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/676cb17bcbdff601f97e0a02ff8bcb480e91ff40-250x250.png"
    _block_type_name = "MinIO Credentials"
    _description = (
        "Block used to manage authentication with MinIO. Refer to the MinIO "
        "docs: https://docs.min.io/docs/minio-server-configuration-guide.html "
        "for more info about the possible credential configurations."
    )
    _documentation_url = "https://docs.prefect.io/integrations/prefect-aws"
    _block_schema_version = "0.7.12"  # the prefect-aws release this schema matches

    minio_root_user: str = Field(default=..., description="Admin or root user.")
    minio_root_password: pydantic.SecretStr = Field(
        default=..., description="Admin or root password."
    )
    region_name: Optional[str] = Field(  # noqa: UP045 (schema parity)
        default=None, description="The AWS Region where you want to create new connections."
    )
    aws_client_parameters: AwsClientParameters = Field(
        default_factory=AwsClientParameters,
        description="Extra parameters to initialize the Client.",
    )

    def get_boto3_session(self) -> Any:
        """A ``boto3.Session`` signing as the root user."""
        return _boto3().Session(
            aws_access_key_id=self.minio_root_user,
            aws_secret_access_key=self.minio_root_password.get_secret_value(),
            region_name=self.region_name,
        )

    def get_client(self, service: str) -> Any:
        """A boto3 client for ``service`` with the client parameters (the endpoint, ...)."""
        kwargs = self.aws_client_parameters.client_kwargs()
        if self.region_name is not None:
            kwargs["region_name"] = self.region_name
        return self.get_boto3_session().client(service, **kwargs)

    def get_s3_client(self) -> Any:
        """An S3 client."""
        return self.get_client("s3")
