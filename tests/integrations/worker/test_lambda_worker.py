"""The worker against a real server and Lambda functions under the real awslambdaric.

boto3 reaches the emulator's Invoke API through ``AWS_ENDPOINT_URL_LAMBDA``; each test has
its own pool and worker (a thread running the asyncio loop), and reads the runs back from
the server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from skiff import Client
from skiff._exceptions import ConfigurationError, UnprocessableEntityError
from skiff.adapters.aws_lambda.emulator import FunctionConfig, LambdaEmulator
from skiff.integrations.aws import AwsClientParameters, AwsCredentials
from skiff.integrations.worker import JobVariablesError, PoolTypeMismatchError
from skiff.integrations.worker._jobs import check_variables
from skiff.integrations.worker._loop import Worker
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.server

EMULATOR_PORT = 4331
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")

APP = textwrap.dedent(
    """
    import time

    from skiff import get_run_logger, task
    from skiff.adapters.aws_lambda import lambda_flow


    @task
    def double(x):
        return 2 * x


    @lambda_flow(name="worker-app")
    def handler(event, context):
        get_run_logger().info("dispatched with %s", sorted(event))
        return {"doubled": double(21)}


    @lambda_flow(name="worker-app")
    def boom(event, context):
        raise ValueError("boom from the function")


    @lambda_flow(name="worker-app")
    def steady(event, context):
        time.sleep(1)


    @lambda_flow(name="worker-app")
    def dies(event, context):
        import os

        os._exit(3)  # after RUNNING: the runtime process dies mid-flow


    @lambda_flow(name="worker-app")
    def beats(event, context):
        time.sleep(12)  # longer than its heartbeat_timeout: its heartbeats keep it alive


    @lambda_flow(name="worker-app")
    def greets(event, context):
        import os

        get_run_logger().info("GREETING=%s", os.environ.get("GREETING"))


    @task
    def step():
        time.sleep(0.25)


    @lambda_flow(name="worker-app")
    def stepper(event, context):
        for _ in range(60):  # 15 s, unless cancelled: the run stops before its next task
            step()


    def slow(event, context):
        time.sleep(3)  # a cold start that outlasts the user's patience
    """
)


@pytest.fixture(scope="module")
def emulator(prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The functions (ok, many, boom, slow, dies, steady, beats, greets, stepper) and
    broken (its import fails); their flow runs send a heartbeat every second."""
    root: Path = tmp_path_factory.mktemp("worker_app")
    (root / "app.py").write_text(APP)
    (root / "broken.py").write_text("raise ImportError('no such module in this function')\n")
    env = {"PREFECT_API_URL": prefect_api_url, "TMPDIR": "/tmp", "SKIFF_HEARTBEAT_INTERVAL": "1"}
    functions = [
        FunctionConfig(name, handler, str(root), timeout=20.0 if name == "beats" else 10.0, env=env)
        for name, handler in [
            ("ok", "app.handler"),
            ("many", "app.handler"),
            ("many2", "app.handler"),
            ("boom", "app.boom"),
            ("slow", "app.slow"),
            ("dies", "app.dies"),
            ("steady", "app.steady"),
            ("beats", "app.beats"),
            ("greets", "app.greets"),
            ("stepper", "app.stepper"),
            ("broken", "broken.handler"),
        ]
    ]
    # Lambda retries a failed Event invocation; not within this module (its runs are checked).
    with LambdaEmulator(functions, port=EMULATOR_PORT, async_retry_delay=600) as emu:
        yield emu.endpoint_url


@pytest.fixture
def lambda_env(api_env: str, emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 pointed at the emulator, with placeholder credentials (the emulator takes any)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", emulator)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return api_env


class WorkerThread:
    """A :class:`Worker` serving in a thread of its own (its own event loop)."""

    def __init__(self, pool: str, api_url: str, **options: Any) -> None:
        self.worker = Worker(pool, "lambda", api_url=api_url, poll_interval=2.0, **options)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.ready = threading.Event()

    def _main(self) -> None:
        async def serve() -> None:
            task = asyncio.create_task(self.worker.run())
            ready = asyncio.create_task(self.worker.wait_ready())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            self.ready.set()
            await task

        try:
            self.loop.run_until_complete(serve())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        assert self.ready.wait(30), "the worker did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.worker.stop)
        self.thread.join(30)


@pytest.fixture
def client(lambda_env: str) -> Iterator[Client]:
    with Client(lambda_env) as c:
        yield c


def pool_name() -> str:
    return f"lambda-{uuid.uuid4().hex[:8]}"


def deploy(pool: str, function: str, **options: Any) -> uuid.UUID:
    import skiff

    @skiff.flow(name="worker-app")
    def app() -> None:
        """The flow the functions run (its code is theirs)."""

    variables = {"function_name": function, **options.pop("job_variables", {})}
    return app.deploy(
        f"dep-{uuid.uuid4().hex[:6]}", work_pool_name=pool, job_variables=variables, **options
    )  # type: ignore[no-any-return]


def run_from(client: Client, deployment: uuid.UUID, **body: Any) -> str:
    reply = client.request("POST", f"/deployments/{deployment}/create_flow_run", json=body)
    return str(reply.json()["id"])


def wait_final(client: Client, run_ids: list[str], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        runs = client.request(
            "POST", "/flow_runs/filter", json={"flow_runs": {"id": {"any_": run_ids}}}
        ).json()
        by_id = {str(r["id"]): r for r in runs}
        if all(by_id.get(i, {}).get("state_type") in FINAL for i in run_ids):
            return by_id
        if time.monotonic() > deadline:
            states = {i: by_id.get(i, {}).get("state_type") for i in run_ids}
            raise AssertionError(f"runs not final in {timeout} s: {states}")
        time.sleep(0.5)


def states_of(client: Client, run_id: str) -> list[str]:
    states = client.request("GET", "/flow_run_states/", params={"flow_run_id": run_id}).json()
    return [s["type"] for s in sorted(states, key=lambda s: s["timestamp"])]


def test_api_and_scheduled_runs_reach_the_function(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    with WorkerThread(pool, lambda_env):
        by_api = run_from(client, deploy(pool, "ok"), job_variables={"timeout": 30})
        anchor = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        scheduled = deploy(pool, "ok", interval=3600, anchor_date=anchor)
        next_hour = anchor + dt.timedelta(minutes=59)
        # What the server's scheduler does every minute, now: the schedule's first run.
        client.request(
            "POST",
            f"/deployments/{scheduled}/schedule",
            json={"start_time": anchor.isoformat(), "max_runs": 1},
        )
        from_schedule = [
            str(r["id"])
            for r in client.request(
                "POST",
                "/flow_runs/filter",
                json={
                    "deployments": {"id": {"any_": [str(scheduled)]}},
                    # The server's own scheduler may have added the later hourly runs.
                    "flow_runs": {"expected_start_time": {"before_": next_hour.isoformat()}},
                },
            ).json()
        ]
        assert len(from_schedule) == 1
        runs = wait_final(client, [by_api, *from_schedule])
    for run_id, run in runs.items():
        assert run["state_type"] == "COMPLETED", (run_id, run["state"])
        assert run["infrastructure_pid"].startswith("ok::"), run["infrastructure_pid"]
        assert states_of(client, run_id)[:3] == ["SCHEDULED", "PENDING", "RUNNING"]
        task_runs = client.request(
            "POST", "/task_runs/filter", json={"flow_runs": {"id": {"any_": [run_id]}}}
        ).json()
        assert [t["state_type"] for t in task_runs] == ["COMPLETED"]
        logs = client.request(
            "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}}
        ).json()
        messages = [entry["message"] for entry in logs]
        assert any("dispatched with ['flow_run_id']" in m for m in messages), messages
        assert any("submitting flow run" in m for m in messages), messages
    pool_info = client.request("GET", f"/work_pools/{pool}").json()
    assert pool_info["type"] == "lambda"
    variables = pool_info["base_job_template"]["variables"]["properties"]
    assert {"function_name", "qualifier", "region_name", "aws_credentials"} <= set(variables)
    workers = client.request("POST", f"/work_pools/{pool}/workers/filter", json={}).json()
    assert len(workers) == 1


def test_failing_unstarted_and_cancelled_runs(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    with WorkerThread(pool, lambda_env):
        failing = run_from(client, deploy(pool, "boom"))
        never = run_from(client, deploy(pool, "broken", job_variables={"start_timeout": 2}))
        died = run_from(
            client, deploy(pool, "dies", job_variables={"invocation_type": "RequestResponse"})
        )
        # An Event invocation cannot be watched: its heartbeats tell (the server persists
        # events about 5 s apart, hence 8 s).
        died_quietly = run_from(
            client, deploy(pool, "dies", job_variables={"heartbeat_timeout": 8})
        )
        beating = run_from(client, deploy(pool, "beats", job_variables={"heartbeat_timeout": 8}))
        pending = run_from(client, deploy(pool, "slow"))
        deadline = time.monotonic() + 20
        while client.request("GET", f"/flow_runs/{pending}").json()["state_type"] != "PENDING":
            assert time.monotonic() < deadline, "the slow run never went Pending"
            time.sleep(0.1)
        client.request(
            "POST",
            f"/flow_runs/{pending}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}},
        )
        runs = wait_final(client, [failing, never, died, pending, died_quietly, beating])
    assert runs[failing]["state_type"] == "FAILED"
    assert "boom from the function" in runs[failing]["state"]["message"]
    assert runs[never]["state_type"] == "CRASHED"
    assert "did not report the flow run RUNNING within 2 s" in runs[never]["state"]["message"]
    assert runs[died]["state_type"] == "CRASHED", runs[died]["state"]
    assert (
        "ended with an error before the flow run finished: Runtime.ExitError"
        in (runs[died]["state"]["message"])
    )
    assert runs[died]["infrastructure_pid"] == f"dies::{died}"
    assert runs[died_quietly]["state_type"] == "CRASHED", runs[died_quietly]["state"]
    assert "sent no heartbeat for 8 s while RUNNING" in runs[died_quietly]["state"]["message"]
    assert runs[beating]["state_type"] == "COMPLETED", runs[beating]["state"]
    assert states_of(client, beating) == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    heartbeats = client.request(
        "POST",
        "/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{beating}"]},
            }
        },
    ).json()
    assert heartbeats["total"] >= 5
    (beat,) = heartbeats["events"][:1]
    roles = {r["prefect.resource.role"] for r in beat["related"]}
    assert {"flow", "deployment"} <= roles
    assert runs[pending]["state_type"] == "CANCELLED"
    assert (
        "Cancelled by the worker before the function started" in (runs[pending]["state"]["message"])
    )
    assert states_of(client, pending) == ["SCHEDULED", "PENDING", "CANCELLING", "CANCELLED"]


def test_the_env_job_variable_holds_for_its_run_only(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    with WorkerThread(pool, lambda_env):
        greeted = run_from(
            client, deploy(pool, "greets", job_variables={"env": {"GREETING": "hi"}})
        )
        wait_final(client, [greeted])
        plain = run_from(client, deploy(pool, "greets"))  # the same warm process
        runs = wait_final(client, [plain])
    assert runs[plain]["state_type"] == "COMPLETED"

    def greeting(run_id: str) -> list[str]:
        logs = client.request(
            "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}}
        ).json()
        return [entry["message"] for entry in logs if entry["message"].startswith("GREETING=")]

    assert greeting(greeted) == ["GREETING=hi"]
    assert greeting(plain) == ["GREETING=None"]


def test_a_running_run_set_cancelling_ends_cancelled(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    with WorkerThread(pool, lambda_env):
        run_id = run_from(client, deploy(pool, "stepper"))
        deadline = time.monotonic() + 20
        while client.request("GET", f"/flow_runs/{run_id}").json()["state_type"] != "RUNNING":
            assert time.monotonic() < deadline, "the stepper never ran"
            time.sleep(0.1)
        client.request(
            "POST",
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}},
        )
        runs = wait_final(client, [run_id])
    assert runs[run_id]["state_type"] == "CANCELLED", runs[run_id]["state"]
    assert states_of(client, run_id) == [
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "CANCELLING",
        "CANCELLED",
    ]
    steps = client.request(
        "POST", "/task_runs/count", json={"flow_runs": {"id": {"any_": [run_id]}}}
    ).json()
    assert 0 < steps < 60  # stopped between two tasks, before the end


def test_two_workers_start_each_run_once(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    asyncio.run(Worker(pool, "lambda", api_url=lambda_env).setup())
    functions = ["many", "many2"]  # two functions, so the runs go two at a time
    deployments = [deploy(pool, function) for function in functions]
    before = sum(invocations(f) for f in functions)
    # All due at once: both workers' first polls see all of them.
    with ThreadPoolExecutor(4) as threads:
        run_ids = list(threads.map(lambda i: run_from(client, deployments[i % 2]), range(20)))
    with WorkerThread(pool, lambda_env), WorkerThread(pool, lambda_env):
        runs = wait_final(client, run_ids, timeout=60)
        deadline = time.monotonic() + 10
        while sum(invocations(f) for f in functions) - before < 20:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)  # a phase ends just after the run's final state lands
        time.sleep(0.5)
        invoked = sum(invocations(f) for f in functions) - before
    assert [r["state_type"] for r in runs.values()].count("COMPLETED") == 20
    for run_id in run_ids:
        history = states_of(client, run_id)
        # A stale poll's Pending over a finished run is undone (the run's state restored).
        assert history.count("RUNNING") == 1 and history[-1] == "COMPLETED", history
        assert runs[run_id]["run_count"] == 1
    assert invoked == 20


def invocations(function: str) -> int:
    """How many invocations of ``function`` the emulator finished (its stats endpoint)."""
    import httpx

    url = f"http://127.0.0.1:{EMULATOR_PORT}/_skiff/functions/{function}/invocations"
    return len(httpx.get(url).json())


def test_bad_input_crashes_the_run_and_the_worker_serves_on(
    client: Client, lambda_env: str, moto_checking: str
) -> None:
    pool = pool_name()
    wrong = AwsCredentials(
        aws_access_key_id="AKIAWRONG",
        aws_secret_access_key="wrong",
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=moto_checking),
    )
    block_id = wrong.save(f"wrong-{uuid.uuid4().hex[:6]}", client=client)
    with WorkerThread(pool, lambda_env):
        deployment = deploy(pool, "ok")
        bad = {
            "missing function": {"function_name": "no-such-fn"},
            "unknown variable": {"functon_name": "ok"},
            "payload over the limit": {"payload": {"blob": "x" * 300_000}},
            "wrong credentials": {
                "aws_credentials": {"$ref": {"block_document_id": str(block_id)}}
            },
        }
        bad_runs = {what: run_from(client, deployment, job_variables=v) for what, v in bad.items()}
        good = run_from(client, deployment)
        # A value of the wrong type: the server checks the run's against the template.
        with pytest.raises(UnprocessableEntityError, match="Validation failed for field 'timeout'"):
            run_from(client, deployment, job_variables={"timeout": "soon"})
        runs = wait_final(client, [*bad_runs.values(), good])
    assert runs[good]["state_type"] == "COMPLETED"
    expected = {
        "missing function": "no Lambda function 'no-such-fn'",
        "unknown variable": "did you mean 'function_name'?",
        "payload over the limit": "over Lambda's 262144-byte limit",
        "wrong credentials": "AWS refused the credentials",
    }
    for what, run_id in bad_runs.items():
        run = runs[run_id]
        assert run["state_type"] == "CRASHED", (what, run["state"])
        assert expected[what] in run["state"]["message"], (what, run["state"]["message"])


def test_deploy_and_start_refuse_bad_input(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    client.request(
        "POST", "/work_pools/", json={"name": pool, "type": "process", "base_job_template": {}}
    )
    with pytest.raises(PoolTypeMismatchError, match="has type 'process', not 'lambda'"):
        asyncio.run(Worker(pool, "lambda", api_url=lambda_env).setup())
    lambda_pool = pool_name()
    asyncio.run(Worker(lambda_pool, "lambda", api_url=lambda_env).setup())
    with pytest.raises(JobVariablesError, match="did you mean 'qualifier'"):
        deploy(lambda_pool, "ok", job_variables={"qualifer": "live"})
    with pytest.raises(ConfigurationError, match="skiff worker start --pool nowhere"):
        deploy("nowhere", "ok")


def test_the_worker_rides_out_a_server_outage(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    proxy = FaultProxy(lambda_env)
    try:
        with WorkerThread(pool, proxy.api_url, heartbeat_interval=1.0):
            deployment = deploy(pool, "ok")
            proxy.refuse()
            run_ids = [run_from(client, deployment) for _ in range(3)]
            time.sleep(2)  # polls fail meanwhile
            assert {r["state_type"] for r in read_runs(client, run_ids)} == {"SCHEDULED"}
            proxy.accept()
            runs = wait_final(client, run_ids)
    finally:
        proxy.close()
    assert [r["state_type"] for r in runs.values()] == ["COMPLETED"] * 3


def read_runs(client: Client, run_ids: list[str]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client.request(
        "POST", "/flow_runs/filter", json={"flow_runs": {"id": {"any_": run_ids}}}
    ).json()
    return result


def test_job_variables_of_the_wrong_type_name_the_variable() -> None:
    # What a pool's template edited after the run was created makes the worker see.
    from skiff.integrations.aws._dispatch import LambdaDispatcher
    from skiff.integrations.worker import base_job_template

    template = base_job_template(LambdaDispatcher)
    with pytest.raises(JobVariablesError, match="'timeout' must be number, got str 'soon'"):
        check_variables(template, {"function_name": "f", "timeout": "soon"})
    with pytest.raises(JobVariablesError, match="'invocation_type' must be one of"):
        check_variables(template, {"function_name": "f", "invocation_type": "Async"})
    with pytest.raises(JobVariablesError, match="'function_name' is required"):
        check_variables(template, {"qualifier": "live"})


CLI_APP = textwrap.dedent(
    """
    from skiff.adapters.aws_lambda import lambda_flow


    @lambda_flow(name="worker-cli-app")
    def handler(event, context):
        return "ok"
    """
)


def test_the_cli_deploys_and_names_the_fix(
    client: Client, lambda_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    from skiff.cli import main

    pool = pool_name()
    asyncio.run(Worker(pool, "lambda", api_url=lambda_env).setup())
    app = tmp_path / "cli_app.py"
    app.write_text(CLI_APP)
    common = [f"{app}:handler", "--pool", pool, "--api-url", lambda_env]
    assert (
        main(
            [
                "deploy",
                *common,
                "--name",
                "hourly",
                "--interval",
                "3600",
                "--job-variable",
                "function_name=ok",
                "--job-variable",
                "timeout=30",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("deployment worker-cli-app/hourly: ")
    deployment = client.request("GET", f"/deployments/{printed.split(': ')[1].strip()}").json()
    assert deployment["job_variables"] == {"function_name": "ok", "timeout": 30}
    assert deployment["schedules"][0]["schedule"]["interval"] == 3600
    assert deployment["work_pool_name"] == pool
    assert main(["deploy", *common, "--name", "x", "--job-variable", "functon_name=ok"]) == 1
    assert "did you mean 'function_name'?" in capsys.readouterr().err
    client.request(
        "POST",
        "/work_pools/",
        json={"name": f"{pool}-p", "type": "process", "base_job_template": {}},
    )
    argv = ["worker", "start", "--pool", f"{pool}-p", "--type", "lambda", "--api-url", lambda_env]
    assert main(argv) == 1
    assert "has type 'process', not 'lambda'" in capsys.readouterr().err
    help_text = subprocess.run(
        [sys.executable, "-m", "skiff", "worker", "start", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--type {lambda,cloud-functions,azure-functions}" in help_text


def test_the_emulator_refuses_event_payloads_over_256_kb(emulator: str) -> None:
    import boto3

    lam = boto3.client(
        "lambda",
        endpoint_url=emulator,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    big = ('{"blob": "' + "x" * (256 * 1024) + '"}').encode()
    with pytest.raises(lam.exceptions.RequestTooLargeException, match="262144 bytes"):
        lam.invoke(FunctionName="ok", InvocationType="Event", Payload=big)
    queued = lam.invoke(FunctionName="ok", InvocationType="Event", Payload=b'{"x": 1}')
    assert queued["StatusCode"] == 202
    assert lam.invoke(FunctionName="ok", InvocationType="DryRun")["StatusCode"] == 204


def test_the_pools_concurrency_limit_holds(client: Client, lambda_env: str) -> None:
    pool = pool_name()
    asyncio.run(Worker(pool, "lambda", api_url=lambda_env).setup())
    client.request("PATCH", f"/work_pools/{pool}", json={"concurrency_limit": 1})
    deployment = deploy(pool, "steady")
    run_ids = [run_from(client, deployment) for _ in range(3)]
    with WorkerThread(pool, lambda_env):
        runs = wait_final(client, run_ids)
    assert [r["state_type"] for r in runs.values()] == ["COMPLETED"] * 3
    spans = []
    for run_id in run_ids:
        states = client.request("GET", "/flow_run_states/", params={"flow_run_id": run_id}).json()
        stamps = {s["type"]: dt.datetime.fromisoformat(s["timestamp"]) for s in states}
        spans.append((stamps["PENDING"], stamps["COMPLETED"]))
    spans.sort()
    for (_, ended), (started, _) in itertools.pairwise(spans):
        assert started >= ended, spans  # one run Pending or Running at a time
