"""``GcpCredentials`` (slug ``gcp-credentials``), interchangeable with prefect-gcp 0.6.22's block.

google-auth (and each service's client library) is imported when credentials or a client
are first asked for (``pip install 'skiff[gcp]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from pydantic import Field, field_validator, model_validator

from skiff._exceptions import MissingExtraError
from skiff.blocks._core import Block
from skiff.blocks._types import SecretDict

__all__ = ["GcpCredentials"]

_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


class GcpCredentials(Block):
    """
    Block used to manage authentication with GCP. Google authentication is
    handled via the `google.oauth2` module or through the CLI.
    Specify either one of service `account_file` or `service_account_info`; if both
    are not specified, the client will try to detect the credentials following Google's
    [Application Default Credentials](https://cloud.google.com/docs/authentication/application-default-credentials).
    See Google's [Authentication documentation](https://cloud.google.com/docs/authentication#service-accounts)
    for details on inference and recommended authentication patterns.

    Example:
        ```python
        from skiff.blocks import GcpCredentials

        credentials = GcpCredentials.load("BLOCK_NAME").get_credentials()
        ```
    """

    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/10424e311932e31c477ac2b9ef3d53cefbaad708-250x250.png"
    _block_type_name = "GCP Credentials"
    _documentation_url = "https://docs.prefect.io/integrations/prefect-gcp"
    _block_schema_version = "0.6.22"  # the prefect-gcp release this schema matches

    service_account_file: Optional[Path] = Field(  # noqa: UP045 (schema parity)
        default=None, description="Path to the service account JSON keyfile."
    )
    service_account_info: Optional[SecretDict] = Field(  # noqa: UP045
        default=None, description="The contents of the keyfile as a dict."
    )
    project: Optional[str] = Field(  # noqa: UP045
        default=None, description="The GCP project to use for the client."
    )

    @field_validator("service_account_info", mode="before")
    @classmethod
    def _parse_json_info(cls, value: Any) -> Any:
        # The UI and older clients store the key file's JSON as one string.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("service_account_info is not valid JSON") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> GcpCredentials:
        if self.service_account_info is not None and self.service_account_file is not None:
            raise ValueError("set service_account_info or service_account_file, not both")
        return self

    def get_credentials(self, scopes: list[str] | None = None) -> Any:
        """google-auth credentials: from the key info or file, else Application Default Credentials."""
        try:
            import google.auth
            from google.oauth2 import service_account
        except ImportError:
            raise MissingExtraError("gcp", "google-auth") from None
        scopes = scopes or _SCOPES
        if self.service_account_info is not None:
            return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                self.service_account_info.get_secret_value(), scopes=scopes
            )
        if self.service_account_file is not None:
            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self.service_account_file.expanduser()), scopes=scopes
            )
        credentials, _ = google.auth.default(scopes=scopes)
        return credentials

    def get_project(self) -> str | None:
        """``project``, else the project of the service account key."""
        if self.project:
            return self.project
        if self.service_account_info is not None:
            project = self.service_account_info.get_secret_value().get("project_id")
            return str(project) if project else None
        return None

    def get_secret_manager_client(self) -> Any:
        """A Secret Manager client (``google.cloud.secretmanager.SecretManagerServiceClient``)."""
        try:
            from google.cloud.secretmanager import SecretManagerServiceClient
        except ImportError:
            raise MissingExtraError("gcp", "google-cloud-secret-manager") from None
        return SecretManagerServiceClient(credentials=self.get_credentials())
