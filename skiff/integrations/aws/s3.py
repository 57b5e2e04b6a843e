"""``S3Bucket`` (slug ``s3-bucket``), interchangeable with ``prefect_aws.s3.S3Bucket``.

Field names, defaults, descriptions and the docstring's first section are part of the block
schema and its checksum, and are kept identical to prefect-aws 0.7.12. boto3 is imported only
when the bucket is first used (``pip install 'skiff[aws]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Union

import pydantic
from pydantic import Field, field_serializer, field_validator

from skiff._exceptions import MissingExtraError
from skiff.integrations._storage import (
    STORAGE_CAPABILITIES,
    BucketNotFoundError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    WritableFileSystem,
    cached_client,
    join_under,
    refuse_parent_refs,
    tag_with_slug,
)
from skiff.integrations.aws.credentials import AwsCredentials, MinIOCredentials

__all__ = ["S3Bucket"]

_CREDENTIAL_CLASSES = (MinIOCredentials, AwsCredentials)
# Error codes S3 (and S3-compatible services) answer when the credentials are the problem.
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "403",
    }
)


class S3Bucket(WritableFileSystem):
    """
    Block used to store data using AWS S3 or S3-compatible object storage like MinIO.

    Attributes:
        bucket_name: Name of your bucket.
        credentials: A block containing your credentials to AWS or MinIO.
        bucket_folder: A default path to a folder within the S3 bucket to use
            for reading and writing objects.

    Example:
        ```python
        from skiff.integrations.aws import S3Bucket

        bucket = S3Bucket.load("BLOCK_NAME")
        bucket.write_path("results/answer.json", b"42")
        ```
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/d74b16fe84ce626345adf235a47008fea2869a60-225x225.png"
    _block_type_name = "S3 Bucket"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-aws"
    _block_schema_version = "0.7.12"  # the prefect-aws release this schema matches
    _block_schema_capabilities = STORAGE_CAPABILITIES
    _extra_secret_fields = ("credentials.aws_session_token",)

    bucket_name: str = Field(default=..., description="Name of your bucket.")
    credentials: Union[MinIOCredentials, AwsCredentials] = Field(  # noqa: UP007 (schema parity)
        default_factory=AwsCredentials,
        description="A block containing your credentials to AWS or MinIO.",
    )
    bucket_folder: str = Field(
        default="",
        description=(
            "A default path to a folder within the S3 bucket to use "
            "for reading and writing objects."
        ),
    )

    @field_validator("credentials", mode="before")
    @classmethod
    def _pick_credentials(cls, value: Any) -> Any:
        # A saved document names the class in block_type_slug; without it, as prefect-aws
        # does, MinIO's when its required fields are there, else AWS's.
        if not isinstance(value, dict):
            return value
        data = dict(value)
        slug = data.pop("block_type_slug", None)
        by_slug = {c.get_block_type_slug(): c for c in _CREDENTIAL_CLASSES}
        if slug is not None:
            if slug not in by_slug:
                raise ValueError(f"block_type_slug {slug!r} is not one of {sorted(by_slug)}")
            return by_slug[slug].model_validate(data)
        try:
            return MinIOCredentials.model_validate(data)
        except pydantic.ValidationError:
            return AwsCredentials.model_validate(data)

    _tag_credentials = field_serializer("credentials", mode="wrap")(tag_with_slug)

    @property
    def basepath(self) -> str:
        """``bucket_folder``, under the name deployment storage uses."""
        return self.bucket_folder

    @basepath.setter
    def basepath(self, value: str) -> None:
        self.bucket_folder = value

    def resolve_path(self, path: str) -> str:
        """The object key for ``path``: ``bucket_folder/path``, as prefect-aws resolves it.

        A path that already starts with the folder is taken as a key (Prefect's result store
        passes resolved keys too). ``..``, or an absolute path outside the folder, raises
        :class:`StoragePathError`.
        """
        folder = self.bucket_folder
        if folder and (path == folder or path.startswith(folder.rstrip("/") + "/")):
            refuse_parent_refs(path, "bucket_folder")
            return path
        return join_under(folder, path, "bucket_folder")

    def _client(self) -> Any:
        return cached_client(self.credentials, "s3", self.credentials.get_s3_client)

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            from botocore import exceptions as boto
        except ImportError:
            raise MissingExtraError("aws", "boto3") from None

        where = f"{key!r} in S3 bucket {self.bucket_name!r}"
        try:
            yield
        except boto.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                raise BucketNotFoundError(
                    f"S3 bucket {self.bucket_name!r} does not exist; create it, or set "
                    "bucket_name on the S3Bucket block to an existing bucket"
                ) from error
            if code in ("NoSuchKey", "404"):
                raise ObjectNotFoundError(f"no object {where}") from error
            if code in _AUTH_CODES:
                hint = (
                    "; they may lack the permission (without s3:ListBucket, a missing key "
                    "also answers AccessDenied)"
                    if code == "AccessDenied"
                    else ""
                )
                raise StorageAuthError(
                    f"S3 refused to {action} {where} ({code}): fix the S3Bucket block's "
                    f"credentials (or the AWS_* environment they fall back to){hint}"
                ) from error
            raise StorageError(
                f"S3 could not {action} {where}: {code or 'error'} (HTTP {status})"
            ) from error
        except (boto.NoCredentialsError, boto.PartialCredentialsError) as error:
            raise StorageAuthError(
                f"no usable AWS credentials to {action} {where}: set credentials on the "
                "S3Bucket block (aws_access_key_id and aws_secret_access_key, or "
                "profile_name), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from error
        except boto.ConnectionError as error:
            raise StorageError(
                f"cannot reach S3 to {action} {where}: check the endpoint "
                "(credentials.aws_client_parameters.endpoint_url) and the network"
            ) from error
        except boto.BotoCoreError as error:
            raise StorageError(f"S3 could not {action} {where}: {error}") from error

    def read_path(self, path: str) -> bytes:
        """The contents of the object at ``path`` (under ``bucket_folder``)."""
        key = self.resolve_path(path)
        with self._errors("read", key):
            reply = self._client().get_object(Bucket=self.bucket_name, Key=key)
            body: bytes = reply["Body"].read()
        return body

    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path`` (under ``bucket_folder``); return the object key."""
        key = self.resolve_path(path)
        with self._errors("write", key):
            self._client().put_object(Bucket=self.bucket_name, Key=key, Body=content)
        return key

    def create_path(self, path: str, content: bytes) -> bool:
        """Store ``content`` at ``path`` only if no object is there; whether it was stored.

        One conditional ``PutObject`` (``If-None-Match: *``): S3 refuses it with 412 when the
        key exists, or 409 when another conditional write of the key is in flight, and both
        are False here. Result records are committed so, the first writer winning.
        """
        key = self.resolve_path(path)
        with self._errors("write", key):
            from botocore.exceptions import ClientError

            try:
                self._client().put_object(
                    Bucket=self.bucket_name, Key=key, Body=content, IfNoneMatch="*"
                )
            except ClientError as error:
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status in (409, 412):
                    return False
                raise
        return True

    def read_path_with_etag(self, path: str) -> tuple[bytes, str]:
        """The contents of the object at ``path`` and its ETag (for conditional writes)."""
        key = self.resolve_path(path)
        with self._errors("read", key):
            reply = self._client().get_object(Bucket=self.bucket_name, Key=key)
            body: bytes = reply["Body"].read()
        return body, str(reply["ETag"])

    def replace_path(self, path: str, content: bytes, etag: str) -> bool:
        """Store ``content`` at ``path`` only if the object there still has ``etag``.

        One conditional ``PutObject`` (``If-Match``); False when the object changed, is
        gone, or another conditional write of it is in flight.
        """
        key = self.resolve_path(path)
        with self._errors("write", key):
            from botocore.exceptions import ClientError

            try:
                self._client().put_object(
                    Bucket=self.bucket_name, Key=key, Body=content, IfMatch=etag
                )
            except ClientError as error:
                if _conflict(error):
                    return False
                raise
        return True

    def delete_path(self, path: str, etag: str | None = None) -> bool:
        """Delete the object at ``path`` (only if it still has ``etag``, when given).

        Whether it was deleted: False when ``etag`` no longer matches or the object is gone
        (S3 answers a plain delete of a missing key with success, so that is True).
        """
        key = self.resolve_path(path)
        with self._errors("delete", key):
            from botocore.exceptions import ClientError

            extra = {"IfMatch": etag} if etag is not None else {}
            try:
                self._client().delete_object(Bucket=self.bucket_name, Key=key, **extra)
            except ClientError as error:
                if _conflict(error):
                    return False
                raise
        return True


def _conflict(error: Any) -> bool:
    # A precondition that failed (412), a write in flight (409) or an object gone (404).
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.response.get("Error", {}).get("Code", ""))
    return status in (404, 409, 412) or code == "NoSuchKey"
