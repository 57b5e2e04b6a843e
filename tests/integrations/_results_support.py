"""Helpers for the result-record tests: storage blocks on the emulators, a flow in a fresh
process, and the server's view of its task runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def s3_block(moto: str, bucket: str, folder: str = "") -> Any:
    """An unsaved ``S3Bucket`` on moto with moto's test credentials."""
    from skiff.blocks import AwsClientParameters, AwsCredentials
    from skiff.integrations.aws import S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=moto),
    )
    return S3Bucket(bucket_name=bucket, credentials=credentials, bucket_folder=folder)


def run_skiff(script: str, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` with skiff in a new process; return the JSON its last line prints."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def task_runs_of(api_url: str, flow_run_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The flow run's task runs once ``count`` of them are final (the recorder is async)."""
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=api_url, timeout=30) as http:
        while True:
            runs: list[dict[str, Any]] = http.post("/task_runs/filter", json=body).json()
            final = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED")]
            if len(final) >= count:
                return final
            assert time.monotonic() < deadline, f"task runs of {flow_run_id}: {runs}"
            time.sleep(0.1)


def flow_run_logs(api_url: str, flow_run_id: str) -> list[str]:
    """Every log line the server has for the flow run."""
    body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}}
    with httpx.Client(base_url=api_url, timeout=30) as http:
        return [log["message"] for log in http.post("/logs/filter", json=body).json()]
