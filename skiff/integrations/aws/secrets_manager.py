"""``AwsSecret`` (slug ``aws-secret``), interchangeable with ``prefect_aws.secrets_manager.AwsSecret``.

Field names, descriptions and the docstring's first section are part of the block schema
and its checksum, and are kept identical to prefect-aws 0.7.12. boto3 is imported when the
secret is first used (``pip install 'skiff[aws]'``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from skiff._exceptions import MissingExtraError, ValidationError
from skiff.integrations._secrets import (
    SecretAuthError,
    SecretBlock,
    SecretError,
    SecretNotFoundError,
    logger,
)
from skiff.integrations.aws.credentials import AwsCredentials

__all__ = ["AwsSecret"]

# Error codes AWS answers when the credentials, not the request, are the problem.
_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "UnrecognizedClientException",
    }
)


class AwsSecret(SecretBlock):
    """
    Manages a secret in AWS's Secrets Manager.

    Attributes:
        aws_credentials: The credentials to use for authentication with AWS.
        secret_name: The name of the secret.

    Example:
        ```python
        from skiff.integrations.aws import AwsSecret

        secret = AwsSecret.load("BLOCK_NAME")
        secret.write_secret(b"hunter2")
        secret.read_secret()  # b"hunter2"
        ```

    ``read_secret`` returns bytes also for a secret stored as a string (its UTF-8), where
    prefect-aws returns the string.
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/d74b16fe84ce626345adf235a47008fea2869a60-225x225.png"
    _block_type_name = "AWS Secret"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-aws"
    _block_schema_version = "0.7.12"  # the prefect-aws release this schema matches
    _extra_secret_fields = ("aws_credentials.aws_session_token",)

    aws_credentials: AwsCredentials
    secret_name: str = Field(default=..., description="The name of the secret.")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            from botocore import exceptions as boto
        except ImportError:
            raise MissingExtraError("aws", "boto3") from None

        what = f"the secret {self.secret_name!r} in AWS Secrets Manager"
        try:
            yield
        except boto.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code == "ResourceNotFoundException":
                raise SecretNotFoundError(
                    f"cannot {action} {what}: it does not exist (or has no such version); "
                    "write it first, or set secret_name on the AwsSecret block"
                ) from error
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in _AUTH_CODES or status in (401, 403):
                raise SecretAuthError(
                    f"AWS refused to {action} {what} ({code}): fix the block's "
                    "aws_credentials (or the AWS_* environment they fall back to)"
                ) from error
            raise SecretError(
                f"AWS could not {action} {what}: {code or 'error'} (HTTP {status})"
            ) from error
        except (boto.NoCredentialsError, boto.PartialCredentialsError) as error:
            raise SecretAuthError(
                f"no usable AWS credentials to {action} {what}: set aws_credentials on the "
                "AwsSecret block, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from error
        except boto.ConnectionError as error:
            raise SecretError(
                f"cannot reach Secrets Manager to {action} {what}: check the endpoint "
                "(aws_credentials.aws_client_parameters.endpoint_url) and the network"
            ) from error
        except boto.BotoCoreError as error:
            raise SecretError(f"AWS could not {action} {what}: {type(error).__name__}") from error

    def read_secret(
        self,
        version_id: str | None = None,
        version_stage: str | None = None,
        **read_kwargs: Any,
    ) -> bytes:
        """The secret's value: the latest, or the version ``version_id``/``version_stage``.

        ``read_kwargs`` go to boto3's ``get_secret_value``.
        """
        if version_id is not None:
            read_kwargs["VersionId"] = version_id
        if version_stage is not None:
            read_kwargs["VersionStage"] = version_stage
        with self._errors("read"):
            client = self.aws_credentials.get_secrets_manager_client()
            reply = client.get_secret_value(SecretId=self.secret_name, **read_kwargs)
        logger.debug("read the secret %r", reply.get("ARN"))
        if "SecretBinary" in reply:
            return bytes(reply["SecretBinary"])
        return str(reply.get("SecretString", "")).encode()

    def write_secret(self, secret_data: bytes, **put_or_create_secret_kwargs: Any) -> str:
        """Store ``secret_data`` as the secret's new version (a SecretBinary), creating the
        secret if it does not exist yet; return its ARN.

        ``put_or_create_secret_kwargs`` go to ``put_secret_value`` (or ``create_secret``).
        """
        with self._errors("write"):
            client = self.aws_credentials.get_secrets_manager_client()
            try:
                reply = client.put_secret_value(
                    SecretId=self.secret_name,
                    SecretBinary=secret_data,
                    **put_or_create_secret_kwargs,
                )
            except client.exceptions.ResourceNotFoundException:
                logger.debug("the secret %r does not exist yet: creating it", self.secret_name)
                reply = client.create_secret(
                    Name=self.secret_name, SecretBinary=secret_data, **put_or_create_secret_kwargs
                )
        return str(reply["ARN"])

    def delete_secret(
        self,
        recovery_window_in_days: int = 30,
        force_delete_without_recovery: bool = False,
        **delete_kwargs: Any,
    ) -> str:
        """Schedule the secret's deletion after ``recovery_window_in_days`` (7 to 30), or delete
        it at once with ``force_delete_without_recovery=True``; return its ARN.

        ``delete_kwargs`` go to boto3's ``delete_secret``.
        """
        if force_delete_without_recovery:
            # AWS takes either the flag or a window, never both.
            delete_kwargs["ForceDeleteWithoutRecovery"] = True
        elif 7 <= recovery_window_in_days <= 30:
            delete_kwargs["RecoveryWindowInDays"] = recovery_window_in_days
        else:
            raise ValidationError(
                f"recovery_window_in_days must be between 7 and 30, got {recovery_window_in_days}"
                " (or pass force_delete_without_recovery=True to delete at once)"
            )
        with self._errors("delete"):
            client = self.aws_credentials.get_secrets_manager_client()
            reply = client.delete_secret(SecretId=self.secret_name, **delete_kwargs)
        return str(reply["ARN"])

    async def aread_secret(
        self,
        version_id: str | None = None,
        version_stage: str | None = None,
        **read_kwargs: Any,
    ) -> bytes:
        """:meth:`read_secret` in a worker thread."""
        return await asyncio.to_thread(self.read_secret, version_id, version_stage, **read_kwargs)

    async def awrite_secret(self, secret_data: bytes, **put_or_create_secret_kwargs: Any) -> str:
        """:meth:`write_secret` in a worker thread."""
        return await asyncio.to_thread(
            self.write_secret, secret_data, **put_or_create_secret_kwargs
        )

    async def adelete_secret(
        self,
        recovery_window_in_days: int = 30,
        force_delete_without_recovery: bool = False,
        **delete_kwargs: Any,
    ) -> str:
        """:meth:`delete_secret` in a worker thread."""
        return await asyncio.to_thread(
            self.delete_secret,
            recovery_window_in_days,
            force_delete_without_recovery,
            **delete_kwargs,
        )
