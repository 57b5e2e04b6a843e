"""Fixtures for the block tests: the Prefect server env's python, a moto server, clean env."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import prefect_server


@pytest.fixture
def name() -> str:
    """A fresh block document name (lowercase letters, digits and dashes, as Prefect wants)."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def prefect_python() -> Path:
    """The python of the server's environment, which has prefect 3.9.1 and prefect-aws."""
    return prefect_server.ensure_env()


@pytest.fixture
def run_prefect(prefect_python: Path, api_env: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run a script with real prefect against the test server; return its JSON stdout."""

    def run(script: str) -> object:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
        env.pop("VIRTUAL_ENV", None)
        env.update(
            PREFECT_API_URL=api_env,
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        done = subprocess.run(
            [str(prefect_python), "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto in server mode on 127.0.0.1 (S3, KMS, STS, ...)."""
    from moto.server import ThreadedMotoServer

    port = prefect_server.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 pointed at moto with fake credentials and no config files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto_url
