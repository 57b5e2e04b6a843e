"""GcpSecret: documents side by side with prefect-gcp (the schema: test_schemas), and its error paths.

No Secret Manager emulator exists, and the client signs its own tokens for a service account
(so no local token endpoint can refuse them), so values are not read or written here: the
errors are those raised before anything leaves the process.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from skiff import MissingExtraError
from skiff.blocks import (
    GcpCredentials,
    GcpSecret,
    SecretAuthError,
    SecretError,
)
from tests.integrations.conftest import service_account_info


@pytest.fixture(autouse=True)
def _no_default_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Application Default Credentials: none (no key file, no gcloud config, no metadata server).
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


def test_the_project_comes_from_the_credentials_or_the_key() -> None:
    info = service_account_info("http://127.0.0.1:9/token")
    from_key = GcpSecret(gcp_credentials={"service_account_info": info}, secret_name="s")
    assert from_key._secret_path() == "projects/skiff-test/secrets/s"
    named = GcpSecret(gcp_credentials=GcpCredentials(project="p"), secret_name="s")
    assert named._secret_path() == "projects/p/secrets/s"
    assert named.secret_version == "latest"


@pytest.mark.parametrize("action", ["read", "write", "delete"])
def test_no_project_names_the_fix(action: str) -> None:
    secret = GcpSecret(gcp_credentials=GcpCredentials(), secret_name="s")
    with pytest.raises(SecretError, match="set project on the GcpSecret block's gcp_credentials"):
        _act(secret, action)


def test_no_credentials_anywhere_is_an_auth_error() -> None:
    secret = GcpSecret(gcp_credentials=GcpCredentials(project="p"), secret_name="s")
    with pytest.raises(SecretAuthError, match=r"\(DefaultCredentialsError\).*APPLICATION_CRED"):
        asyncio.run(secret.aread_secret())


def test_an_unusable_key_is_an_auth_error() -> None:
    broken = GcpCredentials(service_account_info={"type": "service_account", "project_id": "p"})
    with pytest.raises(SecretAuthError, match="not a usable service account key"):
        GcpSecret(gcp_credentials=broken, secret_name="s").read_secret()


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = GcpSecret(gcp_credentials=GcpCredentials(project="p"), secret_name="s")
    monkeypatch.setitem(sys.modules, "google.cloud.secretmanager", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'skiff\[gcp\]'"):
        secret.read_secret()


def _act(secret: GcpSecret, action: str) -> Any:
    if action == "read":
        return secret.read_secret()
    if action == "write":
        return secret.write_secret(b"never stored")
    return secret.delete_secret()


# prefect-gcp's GcpCredentials asks Application Default Credentials when it is built.
PREFECT_SIDE = """
import json
import google.auth
from google.auth.credentials import AnonymousCredentials
google.auth.default = lambda *args, **kwargs: (AnonymousCredentials(), "adc-project")
from prefect_gcp import GcpCredentials
from prefect_gcp.secret_manager import GcpSecret as c
got = c.load("{name}-skiff")
c(gcp_credentials=GcpCredentials(project="prefect-project", service_account_info={info}),
  secret_name="theirs", secret_version="3").save("{name}-prefect")
print(json.dumps({{
    "got": [got.secret_name, got.secret_version, got.gcp_credentials.project],
}}))
"""


@pytest.mark.server
def test_documents_cross_with_prefect_gcp(
    api_env: str, name: str, run_prefect: Callable[[str], Any]
) -> None:
    GcpSecret(gcp_credentials=GcpCredentials(project="skiff-test"), secret_name="ours").save(
        f"{name}-skiff"
    )
    info = service_account_info("http://127.0.0.1:9/token")
    saw = run_prefect(PREFECT_SIDE.format(name=name, info=repr(info)))
    assert saw == {
        "got": ["ours", "latest", "skiff-test"],
    }
    theirs = GcpSecret.load(f"{name}-prefect")
    assert (theirs.secret_name, theirs.secret_version) == ("theirs", "3")
    assert theirs._secret_path() == "projects/prefect-project/secrets/theirs"
    saved_info = theirs.gcp_credentials.service_account_info
    assert saved_info is not None
    assert saved_info.get_secret_value()["private_key"] == info["private_key"]

    with httpx.Client(base_url=api_env) as http:
        docs = [
            http.get(f"/block_types/slug/gcpsecret/block_documents/name/{name}-{side}").json()
            for side in ("skiff", "prefect")
        ]
    assert docs[0]["block_schema_id"] == docs[1]["block_schema_id"]  # one schema row
    hidden = docs[1]["data"]["gcp_credentials"]["service_account_info"]
    assert set(hidden.values()) == {"********"}  # a secret dict, masked key by key
