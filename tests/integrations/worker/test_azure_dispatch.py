"""Azure Functions dispatch: deployment runs reach a v2 FunctionApp by HTTP and by queue.

No Functions host can be installed here, so tests/integrations/worker/azure_host.py does the
host's part on 127.0.0.1 (port 4343): it serves the app's HTTP triggers, checking function
keys, and feeds queue messages it reads from azurite's queue service (port 4344) to the
queue-triggered function. The functions run through the real ``azure.functions``
converters, unchanged.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from scripts import prefect_server
from skiff import Client, flow, get_run_logger, task
from skiff.adapters.azure import azure_flow
from skiff.integrations.azure import AzureBlobStorageCredentials
from skiff.integrations.azure._dispatch import AzureFunctionsDispatcher
from skiff.integrations.worker import (
    DispatchAuthError,
    FunctionNotFoundError,
    InvocationError,
    JobVariablesError,
)
from tests.integrations.conftest import AZURITE_ACCOUNT, AZURITE_KEY, _serve
from tests.integrations.worker.azure_host import HttpHost, pump_queue
from tests.integrations.worker.conftest import Deployments, history, log_messages, task_states

pytestmark = pytest.mark.server

SUFFIX = uuid.uuid4().hex[:8]
APP_NAME = "skiff-orders"
KEY = "test-function-key"  # the host's key for the function (a test value, not a secret)
QUEUE = f"runs-{SUFFIX}"
app = func.FunctionApp()


@task
def double(x: int) -> int:
    return 2 * x


@flow(name=f"az-worker-{SUFFIX}")
def add(a: int, b: int = 0) -> int:
    get_run_logger().info("adding %s and %s", a, b)
    return double(a) + b


@flow(name=f"az-worker-queue-{SUFFIX}")
def handle(items: list[int]) -> int:
    get_run_logger().info("handling %s", items)
    return sum(double(i) for i in items)


app.route(route="runs/add", methods=["POST"])(azure_flow(add))
app.queue_trigger(arg_name="msg", queue_name=QUEUE, connection="Storage")(
    azure_flow(handle, arg_name="msg")
)


@pytest.fixture(scope="module")
def host(prefect_api_url: str) -> Iterator[HttpHost]:
    """The app's HTTP triggers on 127.0.0.1:4343, reporting to the session's server."""
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = prefect_api_url  # the functions run in this process
    served = HttpHost(app, {"add": KEY}, port=4343)
    try:
        yield served
    finally:
        served.close()
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@pytest.fixture(scope="module")
def storage() -> Iterator[str]:
    """azurite's queue service on 127.0.0.1:4344, in memory; its connection string."""
    bootstrapped = prefect_server.CACHE / "npm" / "node_modules" / ".bin" / "azurite-queue"
    binary = str(bootstrapped) if bootstrapped.exists() else shutil.which("azurite-queue")
    if not binary:
        pytest.skip("azurite is not installed: scripts/_bootstrap.sh installs it with npm")
    argv = [binary, "--queueHost", "127.0.0.1", "--queuePort", "4344"]
    argv += ["--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--loose"]
    with _serve(argv, 4344) as url:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};QueueEndpoint={url}/{AZURITE_ACCOUNT};"
        )


@pytest.fixture(scope="module")
def queue(storage: str) -> Iterator[Any]:
    """The function's queue, read as the host reads it (base64 messages)."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    client = QueueClient.from_connection_string(
        storage, QUEUE, message_decode_policy=TextBase64DecodePolicy()
    )
    client.create_queue()
    with client:  # closed before azurite stops (it waits for open connections)
        yield client


def _served(deployments: Deployments, host: HttpHost, **defaults: Any) -> Deployments:
    """An azure-functions pool whose defaults point at the loopback host, with its worker."""
    defaults = {"app_name": APP_NAME, "base_url": host.url, **defaults}
    deployments.serve(AzureFunctionsDispatcher, defaults)
    return deployments


@pytest.fixture
def pool(host: HttpHost, deployments: Deployments) -> Deployments:
    """A pool for the HTTP trigger."""
    return _served(deployments, host)


def test_http_trigger_runs_the_deployment_to_completed(
    pool: Deployments, host: HttpHost, client: Client
) -> None:
    # Deployed as from a CI script: the flow's own deploy(), the code staying in the app.
    variables = {"function_name": "add", "route": "runs/add", "function_key": KEY}
    deployment = add.deploy(
        f"adder-{SUFFIX}", work_pool_name=pool.pool, job_variables=variables, api_url=pool.api_url
    )
    run = client.deployments.create_flow_run(deployment, parameters={"a": 5, "b": 1})
    final = pool.wait_final(run.id)
    assert final.state_name == "Completed", final.state
    assert pool.pid(run.id).startswith(f"{APP_NAME}/add::")
    assert history(client, run.id) == ["Scheduled", "Pending", "Running", "Completed"]
    assert task_states(client, run.id) == ["Completed"]
    assert "adding 5 and 1" in log_messages(client, run.id)


def test_queue_trigger_runs_the_deployment_to_completed(
    deployments: Deployments, host: HttpHost, storage: str, queue: Any, client: Client
) -> None:
    # The connection string lives in a block document; the deployment only references it.
    block = AzureBlobStorageCredentials(connection_string=storage)
    document_id = block.save(f"azurite-{SUFFIX}", client=client, overwrite=True)
    pool = _served(deployments, host)
    variables = {
        "function_name": "handle",
        "trigger": "queue",
        "queue_name": QUEUE,
        "storage_credentials": {"$ref": {"block_document_id": str(document_id)}},
    }
    deployment = pool.deploy(f"az-worker-queue-{SUFFIX}", variables)
    run = client.deployments.create_flow_run(deployment, parameters={"items": [1, 2, 3]})
    stop = threading.Event()
    handled: list[str] = []
    pump = threading.Thread(target=lambda: handled.extend(pump_queue(queue, app, "handle", stop)))
    pump.start()
    try:
        final = pool.wait_final(run.id)
    finally:
        stop.set()
        pump.join(10)
    assert final.state_name == "Completed", final.state
    pid = pool.pid(run.id)
    assert pid.startswith(f"{APP_NAME}/handle::")
    assert handled == [pid.split("::")[1]]  # the pid names the message the host took
    assert task_states(client, run.id) == ["Completed"] * 3
    assert "handling [1, 2, 3]" in log_messages(client, run.id)


def test_wrong_function_key_crashes_the_run_naming_the_fix(
    pool: Deployments, host: HttpHost, client: Client
) -> None:
    variables = {"function_name": "add", "route": "runs/add", "function_key": "not-the-key"}
    deployment = pool.deploy(f"az-worker-{SUFFIX}", variables)
    run = client.deployments.create_flow_run(deployment, parameters={"a": 1})
    before = len(host.invocations)
    final = pool.wait_final(run.id)
    assert final.state_name == "Crashed" and final.infrastructure_pid is None
    assert "function_key is wrong" in str(final.state.message if final.state else "")
    assert len(host.invocations) == before  # the host refused it before the function ran


def test_bad_input_is_a_typed_error_naming_the_fix(
    pool: Deployments, storage: str, queue: Any
) -> None:
    dispatcher = AzureFunctionsDispatcher()
    http = {**pool.defaults, "function_name": "add", "route": "runs/add"}
    queued = {
        **pool.defaults,
        "function_name": "handle",
        "trigger": "queue",
        "queue_name": QUEUE,
        "storage_credentials": {"connection_string": storage},
    }
    wrong_key = storage.replace(AZURITE_KEY, "d3Jvbmc=" * 11)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        (http, DispatchAuthError, "set function_key"),
        ({**http, "route": "runs/addd", "function_key": KEY}, FunctionNotFoundError, "route"),
        ({**http, "base_url": "http://127.0.0.1:4349"}, InvocationError, "check base_url"),
        ({**http, "function_name": None}, JobVariablesError, "lack function_name"),
        ({**http, "trigger": "timer"}, JobVariablesError, "use http or queue"),
        ({**queued, "queue_name": "no-such-queue"}, FunctionNotFoundError, "create it"),
        ({**queued, "storage_credentials": None}, JobVariablesError, "storage_credentials"),
        (
            {**queued, "storage_credentials": {"connection_string": wrong_key}},
            DispatchAuthError,
            "fix storage_credentials",
        ),
    ]
    for config, kind, fix in cases:
        with pytest.raises(kind, match=fix) as raised:
            dispatcher.submit(pool.request(), config)
        assert AZURITE_KEY not in str(raised.value) and KEY not in str(raised.value)
    dispatcher.close()
