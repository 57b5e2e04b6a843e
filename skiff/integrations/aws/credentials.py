"""AWS credential blocks: ``AwsCredentials`` and ``MinIOCredentials`` (as ``prefect_aws.credentials``).

Field names, titles, descriptions and docstrings are part of the block schemas and their
checksums; they are kept identical to prefect-aws 0.7.12. ``MinIOCredentials`` is the other
of the two credentials an ``S3Bucket`` takes. boto3 is imported when a session is first made
(``pip install 'skiff[aws]'``).
"""

from __future__ import annotations

import uuid
from typing import Any, Optional

import pydantic
from pydantic import Field

from skiff._exceptions import MissingExtraError
from skiff.blocks._core import Block
from skiff.integrations.aws.assume_role_parameters import AssumeRoleParameters
from skiff.integrations.aws.client_parameters import AwsClientParameters

__all__ = ["AwsCredentials", "MinIOCredentials", "boto3_module"]


def boto3_module() -> Any:
    """The ``boto3`` module; :class:`MissingExtraError` naming ``skiff[aws]`` without it."""
    try:
        import boto3
    except ImportError:
        raise MissingExtraError("aws", "boto3") from None
    return boto3


def _client(
    session: Any, parameters: AwsClientParameters, region_name: str | None, service: str
) -> Any:
    kwargs = parameters.client_kwargs()
    if region_name is not None:
        kwargs["region_name"] = region_name
    return session.client(service, **kwargs)


class AwsCredentials(Block):
    """
    Block used to manage authentication with AWS. AWS authentication is
    handled via the `boto3` module. Refer to the
    [boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html)
    for more info about the possible credential configurations.

    Example:
        ```python
        from skiff.blocks import AwsCredentials

        s3 = AwsCredentials.load("BLOCK_NAME").get_client("s3")
        ```

    ``aws_session_token`` is a plain string in the schema, as in prefect-aws (so the checksum
    matches), but skiff masks it in repr/str and encrypts it like the declared secrets.
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/d74b16fe84ce626345adf235a47008fea2869a60-225x225.png"
    _block_type_name = "AWS Credentials"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-aws"
    _block_schema_version = "0.7.12"  # the prefect-aws release this schema matches
    _extra_secret_fields = ("aws_session_token",)

    aws_access_key_id: Optional[str] = Field(  # noqa: UP045
        default=None, description="A specific AWS access key ID.", title="AWS Access Key ID"
    )
    aws_secret_access_key: Optional[pydantic.SecretStr] = Field(  # noqa: UP045
        default=None,
        description="A specific AWS secret access key.",
        title="AWS Access Key Secret",
    )
    aws_session_token: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The session key for your AWS account. This is only needed when you are using temporary credentials.",
        title="AWS Session Token",
    )
    profile_name: Optional[str] = Field(  # noqa: UP045
        default=None, description="The profile to use when creating your session."
    )
    region_name: Optional[str] = Field(  # noqa: UP045
        default=None, description="The AWS Region where you want to create new connections."
    )
    aws_client_parameters: AwsClientParameters = Field(
        default_factory=AwsClientParameters,
        description="Extra parameters to initialize the Client.",
        title="AWS Client Parameters",
    )
    assume_role_arn: Optional[str] = Field(  # noqa: UP045
        default=None, description="The ARN of the IAM role to assume.", title="Assume Role ARN"
    )
    assume_role_kwargs: AssumeRoleParameters = Field(
        default_factory=AssumeRoleParameters,
        description="Additional parameters for the assume_role call.",
        title="Assume Role Parameters",
    )

    def get_boto3_session(self) -> Any:
        """A ``boto3.Session`` with these credentials, after assuming ``assume_role_arn`` if set."""
        boto3 = boto3_module()
        secret = self.aws_secret_access_key
        session = boto3.Session(
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            aws_session_token=self.aws_session_token,
            profile_name=self.profile_name,
            region_name=self.region_name,
        )
        if not self.assume_role_arn:
            return session
        params = self.assume_role_kwargs.model_dump(exclude_none=True)
        params.setdefault("RoleSessionName", f"skiff-session-{uuid.uuid4().hex[:8]}")
        sts = session.client("sts", **self.aws_client_parameters.client_kwargs())
        assumed = sts.assume_role(RoleArn=self.assume_role_arn, **params)["Credentials"]
        return boto3.Session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=self.region_name,
        )

    def get_client(self, service: str) -> Any:
        """A boto3 client for ``service`` (``"s3"``, ``"kms"``, ...) with the client parameters."""
        return _client(
            self.get_boto3_session(), self.aws_client_parameters, self.region_name, service
        )

    def get_s3_client(self) -> Any:
        """An S3 client."""
        return self.get_client("s3")

    def get_secrets_manager_client(self) -> Any:
        """A Secrets Manager client."""
        return self.get_client("secretsmanager")


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
        return boto3_module().Session(
            aws_access_key_id=self.minio_root_user,
            aws_secret_access_key=self.minio_root_password.get_secret_value(),
            region_name=self.region_name,
        )

    def get_client(self, service: str) -> Any:
        """A boto3 client for ``service`` with the client parameters (the endpoint, ...)."""
        return _client(
            self.get_boto3_session(), self.aws_client_parameters, self.region_name, service
        )

    def get_s3_client(self) -> Any:
        """An S3 client."""
        return self.get_client("s3")
