"""Client-side encryption: ciphertext on the server, plaintext in skiff, rotation, wrong keys."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from skiff.blocks import (
    AwsCredentials,
    AzureKeyVaultKey,
    DecryptionError,
    GcpCredentials,
    GcpKmsKey,
    LocalKey,
    Secret,
)
from skiff.blocks._crypto import PREFIX, Envelope


def _raw(api_url: str, slug: str, name: str) -> dict[str, Any]:
    with httpx.Client(base_url=api_url) as http:
        path = f"/block_types/slug/{slug}/block_documents/name/{name}"
        doc_id = http.get(path).json()["id"]
        reply = http.get(f"/block_documents/{doc_id}", params={"include_secrets": "true"})
    data: dict[str, Any] = reply.json()["data"]
    return data


@pytest.mark.server
def test_server_stores_only_ciphertext(
    api_env: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = LocalKey.generate()
    monkeypatch.setenv("SKIFF_BLOCK_KEY", key)
    AwsCredentials(
        aws_access_key_id="AK-visible",
        aws_secret_access_key="very-secret",
        aws_session_token="session-secret",
    ).save(name)
    GcpCredentials(service_account_info={"private_key": "pk-secret", "n": 1}).save(name)

    aws = _raw(api_env, "aws-credentials", name)
    assert aws["aws_access_key_id"] == "AK-visible"
    key_id = LocalKey(key).key_id
    for field in ("aws_secret_access_key", "aws_session_token"):
        assert aws[field].startswith(f"{PREFIX}{key_id}:")
    gcp = _raw(api_env, "gcp-credentials", name)["service_account_info"]
    assert all(v.startswith(PREFIX) for v in gcp.values())

    loaded = AwsCredentials.load(name)
    assert loaded.aws_secret_access_key is not None
    assert loaded.aws_secret_access_key.get_secret_value() == "very-secret"
    assert loaded.aws_session_token == "session-secret"
    info = GcpCredentials.load(name).service_account_info
    assert info is not None and info.get_secret_value() == {"private_key": "pk-secret", "n": 1}

    monkeypatch.setenv("SKIFF_BLOCK_KEY", LocalKey.generate())
    with pytest.raises(DecryptionError, match=f"encrypted with key {key_id}"):
        AwsCredentials.load(name)
    monkeypatch.delenv("SKIFF_BLOCK_KEY")
    with pytest.raises(DecryptionError, match="SKIFF_BLOCK_KEY"):
        AwsCredentials.load(name)


@pytest.mark.server
def test_rotation_command(api_env: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = LocalKey.generate(), LocalKey.generate()
    Secret(value="rotate-me").save(name, key_provider=LocalKey(old))
    Secret(value="plain").save(f"{name}-plain", key_provider=None)

    env = {**os.environ, "SKIFF_BLOCK_OLD_KEY": old, "SKIFF_BLOCK_KEY": new}
    done = subprocess.run(
        [sys.executable, "-m", "skiff.blocks.rotate", "--block-type", "secret"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"secret/{name}: re-encrypted 1 value(s)" in done.stderr
    assert f"secret/{name}-plain: nothing under" in done.stderr
    assert "rotated 1 of" in done.stdout
    assert old not in done.stdout + done.stderr and new not in done.stdout + done.stderr

    assert _raw(api_env, "secret", name)["value"].startswith(f"{PREFIX}{LocalKey(new).key_id}:")
    assert Secret.load(name, key_provider=LocalKey(new)).get() == "rotate-me"
    with pytest.raises(DecryptionError):
        Secret.load(name, key_provider=LocalKey(old))
    assert Secret.load(f"{name}-plain", key_provider=None).get() == "plain"


def test_damaged_ciphertext_is_an_error_not_garbage() -> None:
    key = LocalKey(LocalKey.generate())
    token = Envelope(key).encrypt("value")
    damaged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(DecryptionError, match="damaged"):
        Envelope(key).decrypt(damaged, "f")
    with pytest.raises(DecryptionError, match="malformed"):
        Envelope(key).decrypt(PREFIX + "nonsense", "f")
    assert Envelope(key).decrypt(token, "f") == "value"


class _FakeKms:
    """A stand-in for a key service's REST API: wraps by XOR with a secret pad.

    GCP Cloud KMS and Azure Key Vault have no emulator installable here, so their providers
    are tested against this fake HTTP layer (httpx.MockTransport), checking URLs and bodies.
    """

    def __init__(self) -> None:
        self.pad = os.urandom(64)
        self.calls: list[str] = []

    def _xor(self, data: bytes) -> bytes:
        return bytes(b ^ self.pad[i % 64] for i, b in enumerate(data))

    def handler(self, request: httpx.Request) -> httpx.Response:
        import json

        assert request.headers["Authorization"] == "Bearer fake-token"
        body = json.loads(request.content)
        self.calls.append(request.url.path)
        path = request.url.path
        if path.endswith(":encrypt"):
            wrapped = self._xor(base64.b64decode(body["plaintext"]))
            return httpx.Response(200, json={"ciphertext": base64.b64encode(wrapped).decode()})
        if path.endswith(":decrypt"):
            plain = self._xor(base64.b64decode(body["ciphertext"]))
            return httpx.Response(200, json={"plaintext": base64.b64encode(plain).decode()})
        assert body["alg"] == "RSA-OAEP-256"
        raw = base64.urlsafe_b64decode(body["value"] + "==")
        out = base64.urlsafe_b64encode(self._xor(raw)).decode().rstrip("=")
        return httpx.Response(200, json={"kid": str(request.url), "value": out})


def test_gcp_and_azure_key_providers_over_fake_http() -> None:
    fake = _FakeKms()
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    gcp = GcpKmsKey(
        "projects/p/locations/l/keyRings/r/cryptoKeys/k",
        token_provider=lambda: "fake-token",
        http_client=http,
    )
    azure = AzureKeyVaultKey(
        "https://v.vault.azure.net/keys/k/1", token_provider=lambda: "fake-token", http_client=http
    )
    for provider in (gcp, azure):
        token = Envelope(provider).encrypt({"a": "b"})
        assert Envelope(provider).decrypt(token, "f") == {"a": "b"}
    assert fake.calls == [
        "/v1/projects/p/locations/l/keyRings/r/cryptoKeys/k:encrypt",
        "/v1/projects/p/locations/l/keyRings/r/cryptoKeys/k:decrypt",
        "/keys/k/1/wrapkey",
        "/keys/k/1/unwrapkey",
    ]
