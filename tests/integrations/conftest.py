"""Fixtures for the storage blocks: real emulators on 127.0.0.1 (ports 4371-4379).

- moto's server for S3, twice: one taking any credentials, one checking them
  (``INITIAL_NO_AUTH_ACTION_COUNT=0``), for the wrong-credentials cases;
- gcp-storage-emulator for GCS;
- azurite for Azure Blob Storage: ``SKIFF_AZURITE``, else the one ``scripts/_bootstrap.sh``
  installs from npm into ``.cache/npm``, else ``azurite-blob`` on PATH; the Azure block's live
  tests skip only where none is (no npm).

The Prefect side runs in the server environment's python (``run_prefect``, shared with
tests/blocks); that environment has prefect-aws, prefect-gcp and prefect-azure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scripts import prefect_server
from tests.blocks.conftest import name, prefect_python, run_prefect  # noqa: F401 (shared)

# google-auth's credential lookup would otherwise probe the GCE metadata address; nothing in
# these tests may leave loopback. (Read when google.auth is imported; subprocesses inherit it.)
os.environ.setdefault("NO_GCE_CHECK", "true")

PORTS = range(4371, 4380)
BIN = Path(sys.executable).parent


def _port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@contextmanager
def _serve(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an emulator until the block exits; yield its URL once it accepts connections."""
    process = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with code {process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv[0]} did not listen on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:  # azurite waits for idle keep-alive connections
            process.kill()
            process.wait(10)


def _moto(env: dict[str, str] | None = None) -> Iterator[str]:
    port = _port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _serve(argv, port, env) as url:
        yield url


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's server, taking any credentials."""
    yield from _moto()


@pytest.fixture(scope="session")
def moto_checking() -> Iterator[str]:
    """moto's server checking every request's credentials (it knows none, so all fail)."""
    yield from _moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator, in memory."""
    port = _port()
    argv = [
        str(BIN / "gcp-storage-emulator"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    ]
    with _serve(argv, port) as url:
        yield url


# azurite's well-known development account (published in Azure's docs; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """azurite's blob service, in memory; yields its connection string."""
    bootstrapped = prefect_server.CACHE / "npm" / "node_modules" / ".bin" / "azurite-blob"
    binary = (
        os.environ.get("SKIFF_AZURITE")
        or (str(bootstrapped) if bootstrapped.exists() else None)
        or shutil.which("azurite-blob")
    )
    if not binary:
        pytest.skip("azurite is not installed: scripts/_bootstrap.sh installs it with npm")
    port = _port()
    argv = [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    argv += ["--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--loose"]
    with _serve(argv, port) as url:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={url}/{AZURITE_ACCOUNT};"
        )


@pytest.fixture
def container(azurite: str) -> str:
    """A fresh container on azurite."""
    from azure.storage.blob import BlobServiceClient

    container_name = f"skiff-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite).create_container(container_name)
    return container_name


def moto_credentials(endpoint: str, **extra: Any) -> Any:
    """``AwsCredentials`` for moto at ``endpoint``; ``extra`` goes to the client parameters."""
    from skiff.blocks import AwsCredentials

    return AwsCredentials(
        aws_access_key_id="moto-key",
        aws_secret_access_key="moto-secret-value",
        region_name="us-east-1",
        aws_client_parameters={"endpoint_url": endpoint, **extra},
    )


@pytest.fixture
def aws_env(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials in the environment and no AWS config files; returns moto's URL."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto_s3


@pytest.fixture
def s3_bucket(aws_env: str) -> str:
    """A fresh bucket on moto."""
    import boto3

    bucket = f"skiff-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def gcs_env(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """STORAGE_EMULATOR_HOST set (no Google credentials anywhere); returns a fresh bucket."""
    from google.cloud import storage

    for key in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    bucket = f"skiff-{uuid.uuid4().hex[:12]}"
    storage.Client(project="skiff-test").create_bucket(bucket)
    return bucket


class _RefusingTokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint answering a service account it does not know."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_uri() -> Iterator[str]:
    """A token endpoint on 127.0.0.1 refusing every service account (the fault stand-in)."""
    port = _port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _RefusingTokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/token"
    finally:
        server.shutdown()
        server.server_close()


def service_account_info(token_uri: str) -> dict[str, str]:
    """A service account key (a fresh RSA key) whose token endpoint is ``token_uri``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "skiff-test",
        "private_key_id": "0123",
        "private_key": pem,
        "client_email": "nobody@skiff-test.iam.gserviceaccount.com",
        "token_uri": token_uri,
    }
