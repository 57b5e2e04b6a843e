"""The worker on Cloud Functions and Azure Functions: create_flow_run -> RUNNING (a script).

    .venv/bin/python benchmarks/bench_worker_functions.py [--runs 20] [--api-url URL]

One run at a time, ``--runs`` per pool type, from ``POST /deployments/{id}/create_flow_run``
(the run's SCHEDULED state) to its RUNNING state, both server timestamps; p50 and p95:

* ``cloud-functions``: skiff's worker resolves the URL through google-cloud-functions
  (REST, against the admin API stand-in of tests/fakes) and POSTs to a real
  functions-framework server (warm);
* ``azure-functions http``: the HTTP trigger of a v2 FunctionApp on the loopback host
  stand-in of tests/integrations/worker/azure_host.py (in this process);
* ``azure-functions queue``: a base64 message on azurite's queue, read and fed to the
  function by that stand-in's queue pump (polling every 50 ms, as the host's listener
  polls with a backoff), when azurite is installed.

Without ``--api-url`` a Prefect server is started on port 4340 and stopped afterwards.
Ports: functions-framework 4341, admin stand-in 4342, host 4343, azurite 4344.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import prefect_server  # noqa: E402
from scripts.demo_functions import FunctionsFramework  # noqa: E402
from skiff import Client, flow  # noqa: E402

SUFFIX = uuid.uuid4().hex[:6]
GCF_SOURCE = textwrap.dedent(
    f"""
    import functions_framework

    from skiff import flow
    from skiff.adapters.gcp import http_flow


    @functions_framework.http
    @http_flow
    @flow(name="bench-gcf-{SUFFIX}")
    def bench():
        return "ok"
    """
)


@flow(name=f"bench-az-{SUFFIX}")
def bench_http() -> str:
    return "ok"


@flow(name=f"bench-az-queue-{SUFFIX}")
def bench_queue() -> str:
    return "ok"


def _latency(client: Client, run_id: Any, timeout: float = 30) -> float:
    """Seconds between the run's SCHEDULED and RUNNING states, once it is final."""
    deadline = time.monotonic() + timeout
    while client.flow_runs.read(run_id).state_type not in ("COMPLETED", "FAILED", "CRASHED"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"flow run {run_id} did not finish")
        time.sleep(0.05)
    states = {s.type: s.timestamp for s in client.flow_run_states.read_all(flow_run_id=run_id)}
    return (states["RUNNING"] - states["SCHEDULED"]).total_seconds()


def _measure(label: str, client: Client, deployment: Any, runs: int) -> str:
    _latency(client, client.deployments.create_flow_run(deployment).id)  # warm-up
    seconds = [
        _latency(client, client.deployments.create_flow_run(deployment).id) for _ in range(runs)
    ]
    p50 = statistics.median(seconds)
    p95 = sorted(seconds)[max(0, round(0.95 * len(seconds)) - 1)]
    return f"{label:<24} create -> RUNNING  p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  (n={runs})"


@contextmanager
def _server(api_url: str | None) -> Iterator[str]:
    if api_url:
        yield api_url
        return
    handle = prefect_server.start(port=4340)
    try:
        yield handle.api_url
    finally:
        handle.stop()


def _cloud_functions(client: Client, api_url: str, runs: int, pools: Any) -> str:
    from skiff.integrations.gcp._dispatch import CloudFunctionsDispatcher
    from tests.fakes.cloud_functions_admin import CloudFunctionsAdmin

    source = Path(tempfile.mkdtemp(prefix="bench-gcf-")) / "main.py"
    source.write_text(GCF_SOURCE)
    server = FunctionsFramework(source, "bench", {"PREFECT_API_URL": api_url})
    server.port, server.url = 4341, "http://127.0.0.1:4341"
    with server, CloudFunctionsAdmin(port=4342) as admin:
        admin.add("bench", "europe-west1", "bench", server.url)
        defaults = {"project": "bench", "region": "europe-west1", "auth": "none"}
        pool = pools(CloudFunctionsDispatcher, {**defaults, "api_endpoint": admin.url})
        try:
            deployment = pool.deploy(f"bench-gcf-{SUFFIX}", {"function_name": "bench"})
            return _measure("cloud-functions (http)", client, deployment, runs)
        finally:
            pool.close()


def _azure(client: Client, runs: int, pools: Any) -> list[str]:
    import azure.functions as func

    from skiff.adapters.azure import azure_flow
    from skiff.integrations.azure._dispatch import AzureFunctionsDispatcher
    from tests.integrations.worker.azure_host import HttpHost, pump_queue

    app = func.FunctionApp()
    app.route(route="bench", auth_level=func.AuthLevel.ANONYMOUS)(azure_flow(bench_http))
    queue_name = f"bench-{SUFFIX}"
    app.queue_trigger(arg_name="msg", queue_name=queue_name, connection="Storage")(
        azure_flow(bench_queue, arg_name="msg")
    )
    host = HttpHost(app, {}, port=4343)
    lines = []
    pool = pools(AzureFunctionsDispatcher, {"app_name": "bench", "base_url": host.url})
    try:
        variables = {"function_name": "bench_http", "route": "bench"}
        deployment = pool.deploy(f"bench-az-{SUFFIX}", variables)
        lines.append(_measure("azure-functions (http)", client, deployment, runs))
        with _azurite() as storage:
            if storage is None:
                lines.append("azure-functions (queue)  skipped: azurite is not installed")
                return lines
            lines.append(_azure_queue(client, runs, pool, app, queue_name, storage, pump_queue))
    finally:
        pool.close()
        host.close()
    return lines


def _azure_queue(
    client: Client,
    runs: int,
    pool: Any,
    app: Any,
    queue_name: str,
    storage: str,
    pump_queue: Callable[..., list[str]],
) -> str:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    queue = QueueClient.from_connection_string(
        storage, queue_name, message_decode_policy=TextBase64DecodePolicy()
    )
    queue.create_queue()
    stop = threading.Event()
    pump = threading.Thread(target=pump_queue, args=(queue, app, "bench_queue", stop), daemon=True)
    pump.start()
    try:
        variables = {
            "function_name": "bench_queue",
            "trigger": "queue",
            "queue_name": queue_name,
            "storage_credentials": {"connection_string": storage},
        }
        deployment = pool.deploy(f"bench-az-queue-{SUFFIX}", variables)
        return _measure("azure-functions (queue)", client, deployment, runs)
    finally:
        stop.set()
        pump.join(10)
        queue.close()


@contextmanager
def _azurite() -> Iterator[str | None]:
    from tests.integrations.conftest import AZURITE_ACCOUNT, AZURITE_KEY, _serve

    bootstrapped = prefect_server.CACHE / "npm" / "node_modules" / ".bin" / "azurite-queue"
    binary = str(bootstrapped) if bootstrapped.exists() else shutil.which("azurite-queue")
    if not binary:
        yield None
        return
    argv = [binary, "--queueHost", "127.0.0.1", "--queuePort", "4344", "--inMemoryPersistence"]
    argv += ["--skipApiVersionCheck", "--silent", "--loose"]
    with _serve(argv, 4344) as url:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};QueueEndpoint={url}/{AZURITE_ACCOUNT};"
        )


def main() -> None:
    """Run the measurements and print one line per pool type."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--api-url", default=None)
    args = parser.parse_args()
    from tests.integrations.worker.conftest import Deployments

    with _server(args.api_url) as api_url, Client(api_url) as client:
        os.environ["PREFECT_API_URL"] = api_url  # the Azure functions run in this process

        def pools(dispatcher: Any, defaults: dict[str, Any]) -> Deployments:
            made = Deployments(client, api_url)
            made.serve(dispatcher, defaults)
            return made

        lines = [_cloud_functions(client, api_url, args.runs, pools)]
        lines += _azure(client, args.runs, pools)
    print("skiff worker, one run at a time:")
    for line in lines:
        print(" ", line)


if __name__ == "__main__":
    main()
