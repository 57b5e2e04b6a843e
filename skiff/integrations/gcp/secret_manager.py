"""``GcpSecret`` (slug ``gcpsecret``), interchangeable with ``prefect_gcp.secret_manager.GcpSecret``.

Field names, defaults, descriptions and the docstring's first section are part of the block
schema and its checksum, and are kept identical to prefect-gcp 0.6.22 (which sets no block
type name, so the name is the class's and the slug ``gcpsecret``).
google-cloud-secret-manager is imported when the secret is first used
(``pip install 'skiff[gcp]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from skiff._exceptions import MissingExtraError
from skiff.integrations._secrets import (
    SecretAuthError,
    SecretBlock,
    SecretError,
    SecretNotFoundError,
    logger,
)
from skiff.integrations._storage import cached_client
from skiff.integrations.gcp.credentials import GcpCredentials

__all__ = ["GcpSecret"]

_TIMEOUT = 60  # seconds per request, as prefect-gcp


class GcpSecret(SecretBlock):
    """
    Manages a secret in Google Cloud Platform's Secret Manager.

    Attributes:
        gcp_credentials: Credentials to use for authentication with GCP.
        secret_name: Name of the secret to manage.
        secret_version: Version number of the secret to use, or "latest".

    Example:
        ```python
        from skiff.integrations.gcp import GcpSecret

        secret = GcpSecret.load("BLOCK_NAME")
        secret.write_secret(b"hunter2")
        secret.read_secret()  # b"hunter2"
        ```

    The project is ``gcp_credentials.project``, else the service account key's.
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/10424e311932e31c477ac2b9ef3d53cefbaad708-250x250.png"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-gcp"
    _block_schema_version = "0.6.22"  # the prefect-gcp release this schema matches

    gcp_credentials: GcpCredentials
    secret_name: str = Field(default=..., description="Name of the secret to manage.")
    secret_version: str = Field(
        default="latest", description="Version number of the secret to use."
    )

    def _secret_path(self) -> str:
        project = self.gcp_credentials.get_project()
        if not project:
            raise SecretError(
                f"no GCP project for the secret {self.secret_name!r}: set project on the "
                "GcpSecret block's gcp_credentials (or use a service account key, which "
                "names its project)"
            )
        return f"projects/{project}/secrets/{self.secret_name}"

    def _client(self) -> Any:
        credentials = self.gcp_credentials

        def build() -> Any:
            try:
                return credentials.get_secret_manager_client()
            except ValueError as error:  # a key file or info google-auth cannot use
                raise SecretAuthError(
                    f"the GcpSecret block's gcp_credentials are not a usable service account "
                    f"key ({type(error).__name__}); save the key file's JSON as "
                    "service_account_info, or point service_account_file at it"
                ) from error

        return cached_client(credentials, "secretmanager", build)

    @contextmanager
    def _errors(self, action: str, name: str) -> Iterator[None]:
        try:
            from google.api_core import exceptions as api
            from google.auth import exceptions as auth
        except ImportError:
            raise MissingExtraError("gcp", "google-cloud-secret-manager") from None

        what = f"the secret {name!r} in GCP Secret Manager"
        try:
            yield
        except api.NotFound as error:
            raise SecretNotFoundError(
                f"cannot {action} {what}: it does not exist; write it first, or set "
                "secret_name (and secret_version) on the GcpSecret block"
            ) from error
        except (
            api.Unauthenticated,
            api.PermissionDenied,
            api.Unauthorized,
            api.Forbidden,
            auth.GoogleAuthError,
        ) as error:
            raise SecretAuthError(
                f"GCP refused to {action} {what} ({type(error).__name__}): fix the GcpSecret "
                "block's gcp_credentials (service_account_info or service_account_file), or "
                "the Application Default Credentials they fall back to "
                "(GOOGLE_APPLICATION_CREDENTIALS)"
            ) from error
        except (api.RetryError, api.ServiceUnavailable, api.DeadlineExceeded) as error:
            raise SecretError(
                f"cannot reach Secret Manager to {action} {what} ({type(error).__name__}): "
                "check the network"
            ) from error
        except api.GoogleAPICallError as error:
            raise SecretError(
                f"GCP could not {action} {what}: {error.code} {type(error).__name__}"
            ) from error

    def read_secret(self) -> bytes:
        """The value of version ``secret_version`` of the secret."""
        name = f"{self._secret_path()}/versions/{self.secret_version}"
        with self._errors("read", name):
            reply = self._client().access_secret_version(request={"name": name}, timeout=_TIMEOUT)
        return bytes(reply.payload.data)

    def write_secret(self, secret_data: bytes) -> str:
        """Add ``secret_data`` as the secret's new version, creating the secret (with automatic
        replication) if it does not exist yet; return the version's name."""
        parent = self._secret_path()
        add = {"parent": parent, "payload": {"data": secret_data}}
        with self._errors("write", parent):
            from google.api_core.exceptions import NotFound  # _errors checked the extra

            client = self._client()
            try:
                reply = client.add_secret_version(request=add, timeout=_TIMEOUT)
            except NotFound:
                logger.debug("the secret %r does not exist yet: creating it", parent)
                project, _, secret_id = parent.rpartition("/secrets/")
                secret: dict[str, Any] = {"replication": {"automatic": {}}}
                create = {"parent": project, "secret_id": secret_id, "secret": secret}
                client.create_secret(request=create, timeout=_TIMEOUT)
                reply = client.add_secret_version(request=add, timeout=_TIMEOUT)
        return str(reply.name)

    def delete_secret(self) -> str:
        """Delete the secret and all its versions; return its name."""
        name = self._secret_path()
        with self._errors("delete", name):
            self._client().delete_secret(request={"name": name}, timeout=_TIMEOUT)
        return name
