"""``GcsBucket`` (slug ``gcs-bucket``), interchangeable with ``prefect_gcp.cloud_storage.GcsBucket``.

Field names, defaults, descriptions and the docstring's first section are part of the block
schema and its checksum, and are kept identical to prefect-gcp 0.6.22.
google-cloud-storage is imported only when the bucket is first used
(``pip install 'skiff[gcp]'``). With ``STORAGE_EMULATOR_HOST`` set and no service account on
the block, the client talks to the emulator without credentials.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field, field_serializer, field_validator

from skiff._exceptions import MissingExtraError
from skiff.integrations._storage import (
    STORAGE_CAPABILITIES,
    BucketNotFoundError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    StoragePathError,
    WritableFileSystem,
    cached_client,
    join_under,
    refuse_parent_refs,
    tag_with_slug,
)
from skiff.integrations.gcp.credentials import GcpCredentials

__all__ = ["GcsBucket"]

ENV_EMULATOR = "STORAGE_EMULATOR_HOST"  # google-cloud-storage's own variable
_TIMEOUT = 60  # seconds per request, as prefect-gcp


def _storage_module() -> Any:
    try:
        return importlib.import_module("google.cloud.storage")
    except ImportError:
        raise MissingExtraError("gcp", "google-cloud-storage") from None


class GcsBucket(WritableFileSystem):
    """
    Block used to store data using GCP Cloud Storage Buckets.

    Note! `GcsBucket` in `prefect-gcp` is a unique block, separate from `GCS`
    in core Prefect. `GcsBucket` does not use `gcsfs` under the hood,
    instead using the `google-cloud-storage` package, and offers more configuration
    and functionality.

    Attributes:
        bucket: Name of the bucket.
        gcp_credentials: The credentials to authenticate with GCP.
        bucket_folder: A default path to a folder within the GCS bucket to use
            for reading and writing objects.

    Example:
        ```python
        from skiff.integrations.gcp import GcsBucket

        bucket = GcsBucket.load("BLOCK_NAME")
        bucket.write_path("results/answer.json", b"42")
        ```
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/10424e311932e31c477ac2b9ef3d53cefbaad708-250x250.png"
    _block_type_name = "GCS Bucket"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-gcp"
    _block_schema_version = "0.6.22"  # the prefect-gcp release this schema matches
    _block_schema_capabilities = STORAGE_CAPABILITIES

    bucket: str = Field(..., description="Name of the bucket.")
    gcp_credentials: GcpCredentials = Field(
        default_factory=GcpCredentials,
        description="The credentials to authenticate with GCP.",
    )
    bucket_folder: str = Field(
        default="",
        description=(
            "A default path to a folder within the GCS bucket to use "
            "for reading and writing objects."
        ),
    )

    @field_validator("bucket_folder")
    @classmethod
    def _folder_slash(cls, value: str) -> str:
        # As prefect-gcp: a folder always ends with "/", so prefixes compare as folders.
        return f"{value}/" if value and not value.endswith("/") else value

    _tag_credentials = field_serializer("gcp_credentials", mode="wrap")(tag_with_slug)

    @property
    def basepath(self) -> str:
        """``bucket_folder``, under the name deployment storage uses."""
        return self.bucket_folder

    def resolve_path(self, path: str) -> str:
        """The blob name for ``path``: ``bucket_folder/path``, as prefect-gcp resolves it.

        A path that already starts with the folder is taken as a blob name (Prefect's result
        store passes resolved keys too). ``..``, an absolute path outside the folder, or a path
        naming the bucket's root raises :class:`StoragePathError`.
        """
        folder = self.bucket_folder
        if folder and path.startswith(folder):
            refuse_parent_refs(path, "bucket_folder")
            return path
        name = join_under(folder, path, "bucket_folder")
        if name in ("", ".", "/"):
            raise StoragePathError(
                f"path {path!r} names the root of GCS bucket {self.bucket!r}, not an object; "
                "pass an object name"
            )
        return name

    def _client(self) -> Any:
        credentials = self.gcp_credentials

        def build() -> Any:
            storage = _storage_module()
            anonymous = (
                os.environ.get(ENV_EMULATOR)
                and credentials.service_account_info is None
                and credentials.service_account_file is None
            )
            try:
                # The emulator takes no token: None lets the client sign nothing.
                google_credentials = None if anonymous else credentials.get_credentials()
            except ValueError as error:  # a key file or info google-auth cannot use
                raise StorageAuthError(
                    f"the GcsBucket block's gcp_credentials are not a usable service account "
                    f"key ({type(error).__name__}); save the key file's JSON as "
                    "service_account_info, or point service_account_file at it"
                ) from error
            return storage.Client(project=credentials.get_project(), credentials=google_credentials)

        return cached_client(credentials, f"storage:{os.environ.get(ENV_EMULATOR, '')}", build)

    @contextmanager
    def _errors(self, action: str, name: str) -> Iterator[None]:
        _storage_module()  # the extra's check, before its dependencies are imported
        import requests
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        where = f"{name!r} in GCS bucket {self.bucket!r}"
        try:
            yield
        except api.NotFound as error:
            try:
                bucket_missing = not self._client().bucket(self.bucket).exists(timeout=_TIMEOUT)
            except (api.GoogleAPICallError, auth.GoogleAuthError, requests.RequestException):
                bucket_missing = False  # the object's 404 is the answer we have
            if bucket_missing:
                raise BucketNotFoundError(
                    f"GCS bucket {self.bucket!r} does not exist; create it, or set bucket on "
                    "the GcsBucket block to an existing bucket"
                ) from error
            raise ObjectNotFoundError(f"no object {where}") from error
        except (api.Unauthorized, api.Forbidden, auth.GoogleAuthError) as error:
            raise StorageAuthError(
                f"GCS refused to {action} {where} ({type(error).__name__}): fix the GcsBucket "
                "block's gcp_credentials (service_account_info or service_account_file), or "
                "the Application Default Credentials they fall back to "
                "(GOOGLE_APPLICATION_CREDENTIALS)"
            ) from error
        except api.GoogleAPICallError as error:
            raise StorageError(
                f"GCS could not {action} {where}: HTTP {error.code} {type(error).__name__}"
            ) from error
        except requests.ConnectionError as error:
            raise StorageError(
                f"cannot reach GCS to {action} {where}: check the network (and "
                f"{ENV_EMULATOR} when using an emulator)"
            ) from error

    def read_path(self, path: str) -> bytes:
        """The contents of the object at ``path`` (under ``bucket_folder``)."""
        name = self.resolve_path(path)
        with self._errors("read", name):
            blob = self._client().bucket(self.bucket).blob(name)
            content: bytes = blob.download_as_bytes(timeout=_TIMEOUT)
        return content

    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` at ``path`` (under ``bucket_folder``); return the blob name."""
        name = self.resolve_path(path)
        with self._errors("write", name):
            blob = self._client().bucket(self.bucket).blob(name)
            blob.upload_from_string(content, timeout=_TIMEOUT)
        return name
