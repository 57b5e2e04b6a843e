"""``AwsClientParameters``: the boto3 client options an ``AwsCredentials`` block carries.

Its fields, titles, descriptions and docstring are part of the credentials' block schema and
so of its checksum; they are kept identical to prefect-aws 0.7.12's
``prefect_aws.client_parameters``.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import pydantic
from pydantic import Field

__all__ = ["AwsClientParameters"]


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
