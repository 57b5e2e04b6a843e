"""``AwsCredentials`` (slug ``aws-credentials``), interchangeable with prefect-aws's block.

Field names, titles, descriptions and the docstrings of the two nested models are part of
the block schema and so of its checksum; they are kept identical to prefect-aws 0.7.12.
"""

from __future__ import annotations

import uuid
from typing import Any, Optional, Union

import pydantic
from pydantic import Field

from skiff._exceptions import MissingExtraError
from skiff.blocks._core import Block

__all__ = ["AssumeRoleParameters", "AwsClientParameters", "AwsCredentials"]


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise MissingExtraError("aws", "boto3") from None
    return boto3


class AwsClientParameters(pydantic.BaseModel):
    """
    Model used to manage extra parameters that you can pass when you initialize
    the Client. If you want to find more information, see
    [boto3 docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html)
    for more info about the possible client configurations.

    Attributes:
        api_version: The API version to use. By default, botocore will
            use the latest API version when creating a client. You only need
            to specify this parameter if you want to use a previous API version
            of the client.
        use_ssl: Whether or not to use SSL. By default, SSL is used.
            Note that not all services support non-ssl connections.
        verify: Whether or not to verify SSL certificates. By default
            SSL certificates are verified. If False, SSL will still be used
            (unless use_ssl is False), but SSL certificates
            will not be verified. Passing a file path to this is deprecated.
        verify_cert_path: A filename of the CA cert bundle to
            use. You can specify this argument if you want to use a
            different CA cert bundle than the one used by botocore.
        endpoint_url: The complete URL to use for the constructed
            client. Normally, botocore will automatically construct the
            appropriate URL to use when communicating with a service. You
            can specify a complete URL (including the "http/https" scheme)
            to override this behavior. If this value is provided,
            then `use_ssl` is ignored.
        config: Advanced configuration for Botocore clients. See
            [botocore docs](https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html)
            for more details.
    """

    api_version: Optional[str] = Field(  # noqa: UP045 (schema parity with prefect-aws)
        default=None, description="The API version to use.", title="API Version"
    )
    use_ssl: bool = Field(default=True, description="Whether or not to use SSL.", title="Use SSL")
    verify: Union[bool, pydantic.FilePath, None] = Field(  # noqa: UP007
        default=None, description="Whether or not to verify SSL certificates."
    )
    verify_cert_path: Optional[pydantic.FilePath] = Field(  # noqa: UP045
        default=None,
        description="Path to the CA cert bundle to use.",
        title="Certificate Authority Bundle File Path",
    )
    endpoint_url: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The complete URL to use for the constructed client.",
        title="Endpoint URL",
    )
    config: Optional[dict[str, Any]] = Field(  # noqa: UP045
        default=None,
        description="Advanced configuration for Botocore clients.",
        title="Botocore Config",
    )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``session.client(...)``: the parameters that are set."""
        kwargs: dict[str, Any] = {"use_ssl": self.use_ssl}
        if self.api_version is not None:
            kwargs["api_version"] = self.api_version
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        # A CA bundle path wins over the plain flag, as in prefect-aws.
        verify = self.verify_cert_path or self.verify
        if verify is not None:
            kwargs["verify"] = str(verify) if not isinstance(verify, bool) else verify
        if self.config is not None:
            from botocore import UNSIGNED
            from botocore.config import Config

            config = Config(**self.config)
            if config.signature_version == "unsigned":
                config.signature_version = UNSIGNED
            kwargs["config"] = config
        return kwargs


class AssumeRoleParameters(pydantic.BaseModel):
    """
    Model used to manage parameters for the AWS STS assume_role call.
    Refer to the
    [boto3 STS assume_role docs](https://boto3.amazonaws.com/v1/documentation/api/latest/reference/services/sts/client/assume_role.html)
    for more information about the possible assume role configurations.

    Attributes:
        RoleSessionName: An identifier for the assumed role session.
            This value is used to uniquely identify a session when the same role
            is assumed by different principals or for different reasons.
            If not provided, a default will be generated.
        DurationSeconds: The duration, in seconds, of the role session.
            The value can range from 900 seconds (15 minutes) to 43,200 seconds (12 hours).
        Policy: An IAM policy in JSON format that you want to use as an inline session policy.
        PolicyArns: The ARNs of the IAM managed policies to use as managed session policies.
            Each item should be a dict with an 'arn' key.
        Tags: A list of session tags. Each tag should be a dict with 'Key' and 'Value' keys.
        TransitiveTagKeys: A list of keys for session tags that you want to set as transitive.
            Transitive tags persist during role chaining.
        ExternalId: A unique identifier that is used by third parties to assume a role
            in their customers' accounts.
        SerialNumber: The identification number of the MFA device that is associated
            with the user who is making the AssumeRole call.
        TokenCode: The value provided by the MFA device, if MFA authentication is required.
        SourceIdentity: The source identity specified by the principal that is calling
            the AssumeRole operation.
        ProvidedContexts: A list of context information. Each context should be a dict
            with 'ProviderArn' and 'ContextAssertion' keys.
    """

    RoleSessionName: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="An identifier for the assumed role session. If not provided, a default will be generated.",
        title="Role Session Name",
    )
    DurationSeconds: Optional[int] = Field(  # noqa: UP045
        default=None,
        description="The duration, in seconds, of the role session. The value can range from 900 seconds (15 minutes) to 43,200 seconds (12 hours).",
        title="Duration Seconds",
    )
    Policy: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="An IAM policy in JSON format that you want to use as an inline session policy.",
        title="Policy",
    )
    PolicyArns: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="The ARNs of the IAM managed policies to use as managed session policies. Each item should be a dict with an 'arn' key.",
        title="Policy ARNs",
    )
    Tags: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="A list of session tags. Each tag should be a dict with 'Key' and 'Value' keys.",
        title="Tags",
    )
    TransitiveTagKeys: Optional[list[str]] = Field(  # noqa: UP045
        default=None,
        description="A list of keys for session tags that you want to set as transitive. Transitive tags persist during role chaining.",
        title="Transitive Tag Keys",
    )
    ExternalId: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="A unique identifier that is used by third parties to assume a role in their customers' accounts.",
        title="External ID",
    )
    SerialNumber: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The identification number of the MFA device that is associated with the user who is making the AssumeRole call.",
        title="Serial Number",
    )
    TokenCode: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The value provided by the MFA device, if MFA authentication is required.",
        title="Token Code",
    )
    SourceIdentity: Optional[str] = Field(  # noqa: UP045
        default=None,
        description="The source identity specified by the principal that is calling the AssumeRole operation.",
        title="Source Identity",
    )
    ProvidedContexts: Optional[list[dict[str, str]]] = Field(  # noqa: UP045
        default=None,
        description="A list of context information. Each context should be a dict with 'ProviderArn' and 'ContextAssertion' keys.",
        title="Provided Contexts",
    )


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
        boto3 = _boto3()
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
        kwargs = self.aws_client_parameters.client_kwargs()
        if self.region_name is not None:
            kwargs["region_name"] = self.region_name
        return self.get_boto3_session().client(service, **kwargs)

    def get_s3_client(self) -> Any:
        """An S3 client."""
        return self.get_client("s3")

    def get_secrets_manager_client(self) -> Any:
        """A Secrets Manager client."""
        return self.get_client("secretsmanager")
