"""Cloud Functions dispatch: deployment runs reach real functions-framework servers.

The function's URL comes from google-cloud-functions' REST transport talking to the
stand-in for the Cloud Functions v2 admin API (tests/fakes/cloud_functions_admin.py, the
one fake: no emulator exists for it), with anonymous credentials (``auth: none``).
Ports: functions-framework 4341 (HTTP) and 4347 (CloudEvent), the admin stand-in 4342.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.demo_functions import FunctionsFramework
from skiff import Client
from skiff.integrations.gcp._dispatch import CloudFunctionsDispatcher, _fetch_id_token
from skiff.integrations.worker import (
    DispatchAuthError,
    InvocationError,
    JobVariablesError,
    Liveness,
)
from tests.fakes.cloud_functions_admin import CloudFunctionsAdmin
from tests.integrations.conftest import service_account_info
from tests.integrations.worker.conftest import Deployments, history, log_messages, task_states

pytestmark = pytest.mark.server

SUFFIX = uuid.uuid4().hex[:8]
PROJECT, REGION = "skiff-test", "europe-west1"

SOURCE = f"""
import os

import functions_framework

from skiff import flow, get_run_logger, task
from skiff.adapters.gcp import cloud_event_flow, http_flow


@task
def double(x: int) -> int:
    return 2 * x


@functions_framework.http
@http_flow
@flow(name="gcf-worker-{SUFFIX}")
def add(a: int, b: int = 0) -> int:
    get_run_logger().info("adding %s and %s", a, b)
    return double(a) + b


@functions_framework.cloud_event
@cloud_event_flow
@flow(name="gcf-worker-event-{SUFFIX}")
def on_event(x: int) -> int:
    get_run_logger().info("event for %s", x)
    return double(x)


@functions_framework.http
@http_flow
@flow(name="gcf-worker-dies-{SUFFIX}")
def dies() -> None:
    get_run_logger().info("about to die")
    os._exit(1)  # the instance dies mid-run: no final state, the connection drops
"""


def _serve(source: Any, target: str, port: int, env: dict[str, str]) -> FunctionsFramework:
    server = FunctionsFramework(source, target, env)
    server.port, server.url = port, f"http://127.0.0.1:{port}"  # this suite's fixed ports
    server.http.base_url = server.url
    return server.start()


@pytest.fixture(scope="module")
def admin(prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Both functions served, and deployed on the admin stand-in."""
    source = tmp_path_factory.mktemp("gcf-worker") / "main.py"
    source.write_text(SOURCE)
    env = {"PREFECT_API_URL": prefect_api_url, "GOOGLE_CLOUD_PROJECT": PROJECT}
    servers = [
        _serve(source, "add", 4341, env),
        _serve(source, "on_event", 4347, env),
        _serve(source, "dies", 4348, env),
    ]
    try:
        with CloudFunctionsAdmin(port=4342) as stand_in:
            for server in servers:
                server.wait_ready()
            stand_in.add(PROJECT, REGION, "add", servers[0].url)
            event_type = "google.cloud.pubsub.topic.v1.messagePublished"
            stand_in.add(PROJECT, REGION, "on_event", servers[1].url, event_type=event_type)
            stand_in.add(PROJECT, REGION, "dies", servers[2].url)
            yield stand_in
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop()


@pytest.fixture
def pool(admin: CloudFunctionsAdmin, deployments: Deployments) -> Deployments:
    """A cloud-functions pool whose defaults point at the stand-in, anonymously."""
    defaults = {"project": PROJECT, "region": REGION, "auth": "none", "api_endpoint": admin.url}
    deployments.serve(CloudFunctionsDispatcher, defaults)
    return deployments


def test_http_function_runs_the_deployment_to_completed(pool: Deployments, client: Client) -> None:
    deployment = pool.deploy(f"gcf-worker-{SUFFIX}", {"function_name": "add"})
    run = client.deployments.create_flow_run(deployment, parameters={"a": 20, "b": 2})
    final = pool.wait_final(run.id)
    assert final.state_name == "Completed", final.state
    pid = pool.pid(run.id)
    assert pid.startswith(f"projects/{PROJECT}/locations/{REGION}/functions/add::")
    # The adapter took over the deployment's run: the same id, its parameters, its history.
    assert history(client, run.id) == ["Scheduled", "Pending", "Running", "Completed"]
    assert task_states(client, run.id) == ["Completed"]
    assert "adding 20 and 2" in log_messages(client, run.id)


def test_cloud_event_function_gets_the_run_as_a_cloudevent(
    pool: Deployments, client: Client
) -> None:
    # No trigger variable: the function's event trigger (from the admin API) decides.
    deployment = pool.deploy(f"gcf-worker-event-{SUFFIX}", {"function_name": "on_event"})
    run = client.deployments.create_flow_run(deployment, parameters={"x": 4})
    final = pool.wait_final(run.id)
    # functions-framework answers 400 to anything but a CloudEvent for this target.
    assert final.state_name == "Completed", final.state
    assert task_states(client, run.id) == ["Completed"]
    assert "event for 4" in log_messages(client, run.id)


def test_function_that_dies_mid_run_crashes_it(pool: Deployments, client: Client) -> None:
    deployment = pool.deploy(f"gcf-worker-dies-{SUFFIX}", {"function_name": "dies"})
    run = client.deployments.create_flow_run(deployment)
    final = pool.wait_final(run.id)
    assert final.state_name == "Crashed", final.state
    message = str(final.state.message if final.state else "")
    assert "ended before the flow run reported a final state" in message
    assert "the connection failed" in message
    assert history(client, run.id) == ["Scheduled", "Pending", "Running", "Crashed"]


def test_url_is_resolved_once_per_function(admin: CloudFunctionsAdmin, pool: Deployments) -> None:
    dispatcher = CloudFunctionsDispatcher()
    config = {**pool.defaults, "function_name": "add", "timeout": 30}
    before = len(admin.requests)
    for _ in range(2):
        pid = dispatcher.submit(pool.request(), config)  # a run id the server lacks
    assert len(admin.requests) - before == 1
    assert dispatcher.observe(pid, config) in (Liveness.ALIVE, Liveness.GONE)
    dispatcher.close()


def test_misspelled_function_crashes_the_run_naming_it(pool: Deployments, client: Client) -> None:
    deployment = pool.deploy(f"gcf-worker-{SUFFIX}", {"function_name": "addd"})
    run = client.deployments.create_flow_run(deployment, parameters={"a": 1})
    final = pool.wait_final(run.id)
    assert final.state_name == "Crashed" and final.infrastructure_pid is None
    message = str(final.state.message if final.state else "")
    assert f"projects/{PROJECT}/locations/{REGION}/functions/addd does not exist" in message
    assert "function_name" in message
    # The worker goes on serving the pool.
    good = pool.deploy(f"gcf-worker-{SUFFIX}", {"function_name": "add"})
    run = client.deployments.create_flow_run(good, parameters={"a": 1})
    assert pool.wait_final(run.id).state_name == "Completed"


def test_misspelled_job_variable_of_a_run_crashes_it_naming_the_variable(
    pool: Deployments, client: Client
) -> None:
    deployment = pool.deploy(f"gcf-worker-{SUFFIX}", {"function_name": "add"})
    run = client.deployments.create_flow_run(
        deployment, parameters={"a": 1}, job_variables={"tiemout": 30}
    )
    final = pool.wait_final(run.id)
    assert final.state_name == "Crashed"
    assert "did you mean 'timeout'" in str(final.state.message if final.state else "")


def test_bad_input_is_a_typed_error_naming_the_fix(
    admin: CloudFunctionsAdmin, pool: Deployments
) -> None:
    dispatcher = CloudFunctionsDispatcher()
    base = {**pool.defaults, "function_name": "add"}
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"project": "other-project"}, DispatchAuthError, "roles/cloudfunctions.viewer"),
        ({"region": None}, JobVariablesError, "needs region"),
        ({"function_name": "projects/p/add"}, JobVariablesError, "projects/P/locations/L"),
        ({"api_endpoint": "http://127.0.0.1:4349"}, InvocationError, "check api_endpoint"),
        (
            {"auth": "id_token", "credentials": {"service_account_info": "{"}},
            JobVariablesError,
            "not valid JSON",
        ),
    ]
    for change, kind, fix in cases:
        with pytest.raises(kind, match=fix):
            dispatcher.submit(pool.request(), {**base, **change})
    admin.token = "the-right-token"  # the API now wants a bearer token; anonymous has none
    try:
        with pytest.raises(DispatchAuthError, match="could not read Cloud Function"):
            dispatcher.submit(pool.request(), {**base, "function_name": "on_event"})
    finally:
        admin.token = None
    admin.functions[f"projects/{PROJECT}/locations/{REGION}/functions/gone"] = {
        **admin.functions[f"projects/{PROJECT}/locations/{REGION}/functions/add"],
        "url": "http://127.0.0.1:4349",  # deployed, but nothing listens there
    }
    with pytest.raises(InvocationError, match="could not call Cloud Function"):
        dispatcher.submit(pool.request(), {**base, "function_name": "gone"})
    dispatcher.close()


def test_refused_service_account_gives_no_id_token_and_names_the_fix(token_uri: str) -> None:
    # The ID token step alone: reading the function with a service account would make
    # google-auth look up its access boundary at iamcredentials.googleapis.com.
    info = service_account_info(token_uri)  # Google's token endpoint refuses it
    config = {"auth": "id_token", "credentials": {"service_account_info": info}}
    with pytest.raises(DispatchAuthError, match="check the credentials block") as raised:
        _fetch_id_token("http://127.0.0.1:4341", config)
    assert "invalid_grant" in str(raised.value)
    assert info["private_key"].splitlines()[1] not in str(raised.value)


def test_missing_function_name_is_reported_before_any_call(pool: Deployments) -> None:
    with pytest.raises(JobVariablesError, match="lack function_name"):
        CloudFunctionsDispatcher().submit(pool.request(), {**pool.defaults})
