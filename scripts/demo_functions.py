"""The Google Cloud and Azure parts of the README demo, and the harness their tests share.

    .venv/bin/python -m scripts.demo_functions http://127.0.0.1:4200/api

:func:`run_gcp_demo` serves ``examples/gcp_functions.py`` with the real functions-framework
on 127.0.0.1 (one process per target, as Cloud Functions runs them), calls it over HTTP,
and reads back through skiff's Client what the server recorded. :func:`run_azure_demo`
invokes ``examples/azure_function_app.py`` in-process the way the Azure Functions Python
worker does (the Core Tools host cannot be installed here): the trigger argument is built
by the real ``azure.functions`` converters from the host's data.

Harness, for tests::

    with FunctionsFramework(source, "target", env) as ff:      # also: asgi=True
        ff.get("/?x=1"); ff.post_event(ce_id, ce_type, ce_source, data)
    invoke_azure(app, "name", http_datum("GET", url), context=azure_context("name"))
    app_functions(app) -> {name: function}
    timer_datum(past_due=False); queue_datum(body, message_id)
    find_run(client, flow_name, label, value) -> FlowRun
    describe_run(client, flow_name, run) -> str
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import inspect
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from scripts.prefect_server import free_port

if TYPE_CHECKING:
    from skiff import Client
    from skiff.client.models import FlowRun

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


# ---------------------------------------------------------------- Google Cloud Functions
class FunctionsFramework:
    """A real ``functions-framework`` server for one target, on 127.0.0.1, as a subprocess.

    ``start()`` returns at once (start several, then :meth:`wait_ready` each); the server's
    output goes to ``log_file``. ``env`` is added to this process's environment.
    """

    def __init__(
        self,
        source: Path | str,
        target: str,
        env: dict[str, str] | None = None,
        *,
        asgi: bool = False,
        signature_type: str | None = None,
    ) -> None:
        self.source = Path(source)
        self.target = target
        self.env = {**os.environ, **(env or {})}
        self.asgi = asgi
        self.signature_type = signature_type
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = Path(tempfile.mkstemp(prefix=f"ff-{target}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def start(self) -> FunctionsFramework:
        """Launch the server (does not wait for it)."""
        command = [
            str(Path(sys.executable).with_name("functions-framework")),
            *("--target", self.target, "--source", str(self.source)),
            *("--host", "127.0.0.1", "--port", str(self.port)),
        ]
        if self.asgi:
            command.append("--asgi")
        if self.signature_type:
            command += ["--signature-type", self.signature_type]
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout: float = 20) -> None:
        """Wait until the port accepts connections; raise with the server's log if it died."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"functions-framework exited:\n{self.log_file.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"functions-framework not up after {timeout}s:\n{self.log_file.read_text()}"
                    ) from None
                time.sleep(0.05)

    def get(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        """``GET`` the function."""
        return self.http.get(path, **kwargs)

    def post_event(
        self, ce_id: str, ce_type: str, ce_source: str, data: Any, **headers: str
    ) -> httpx.Response:
        """Deliver a CloudEvent in binary mode (``ce-*`` headers, JSON data)."""
        ce = {
            "ce-id": ce_id,
            "ce-type": ce_type,
            "ce-source": ce_source,
            "ce-specversion": "1.0",
            "content-type": "application/json",
        }
        return self.http.post("/", content=json.dumps(data), headers={**ce, **headers})

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_file.read_text(errors="replace")

    def terminate(self) -> None:
        """Ask the server to stop, without waiting (stop several servers at once)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        """Stop the server, wait for it, and forget its log file."""
        self.http.close()
        self.terminate()
        if self.process is not None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.unlink(missing_ok=True)

    def __enter__(self) -> FunctionsFramework:
        if self.process is None:
            self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- Azure Functions
def azure_context(function_name: str, invocation_id: str | None = None) -> Any:
    """The invocation context the worker passes as ``context`` (an ``azure.functions.Context``)."""
    import threading

    import azure.functions as func

    name, invocation = function_name, invocation_id or str(uuid.uuid4())

    class Context(func.Context):  # type: ignore[misc]
        invocation_id = invocation
        function_name = name
        thread_local_storage = threading.local()
        function_directory = str(EXAMPLES)
        trace_context = None
        retry_context = None

    return Context()


def http_datum(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> Any:
    """The host's data for an HTTP trigger (query parameters are taken from ``url``)."""
    from urllib.parse import parse_qsl, urlsplit

    from azure.functions.meta import Datum

    def strings(values: dict[str, str]) -> dict[str, Any]:
        return {k: Datum(v, "string") for k, v in values.items()}

    value = {
        "method": Datum(method, "string"),
        "url": Datum(url, "string"),
        "headers": strings(headers or {}),
        "query": strings(dict(parse_qsl(urlsplit(url).query))),
        "params": strings(route_params or {}),
        "body": Datum(body, "bytes"),
    }
    return Datum(value, "http")


def timer_datum(past_due: bool = False) -> Any:
    """The host's data for a timer trigger."""
    from azure.functions.meta import Datum

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    status = {"Last": now, "Next": now, "LastUpdated": now}
    info = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": past_due}
    return Datum(json.dumps(info), "json")


def queue_datum(
    body: str, message_id: str | None = None, dequeue_count: int = 1
) -> tuple[Any, dict[str, Any]]:
    """The host's data and trigger metadata for a storage queue message."""
    from azure.functions.meta import Datum

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    metadata = {
        "Id": Datum(message_id or str(uuid.uuid4()), "string"),
        "DequeueCount": Datum(str(dequeue_count), "json"),
        "InsertionTime": Datum(now, "string"),
        "ExpirationTime": Datum(now, "string"),
        "NextVisibleTime": Datum(now, "string"),
        "PopReceipt": Datum("receipt", "string"),
    }
    return Datum(body, "string"), metadata


_indexed: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def app_functions(app: Any) -> dict[str, Any]:
    """A v2 ``FunctionApp``'s functions by name, indexed once per app as the worker does."""
    if app not in _indexed:
        # Indexing twice fails ("not a unique function name"); the worker indexes once.
        _indexed[app] = {f.get_function_name(): f for f in app.get_functions()}
    return _indexed[app]


def invoke_azure(
    app: Any,
    function_name: str,
    datum: Any,
    *,
    trigger_metadata: dict[str, Any] | None = None,
    context: Any = None,
) -> Any:
    """Invoke one function of a v2 ``FunctionApp`` in-process, the way the worker does.

    Finds the function with ``app.get_functions()`` (once per app), decodes ``datum`` with the converter
    registered for its trigger, passes ``context`` only if the function's signature
    declares it, runs sync functions in a worker thread and async ones in an event loop,
    and returns what the function returned.
    """
    import azure.functions as func

    function = app_functions(app)[function_name]
    user_function = function.get_user_function()
    trigger = function.get_trigger()
    converter = func.get_binding_registry().get(trigger.type)
    kwargs = {trigger.name: converter.decode(datum, trigger_metadata=trigger_metadata)}
    if "context" in inspect.signature(user_function).parameters:
        kwargs["context"] = context or azure_context(function_name)
    if inspect.iscoroutinefunction(user_function):
        return asyncio.run(user_function(**kwargs))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(user_function, **kwargs).result()


# ---------------------------------------------------------------- reading the server
def find_run(
    client: Client, flow_name: str, label: str, value: str, timeout: float = 20
) -> FlowRun:
    """The final flow run of ``flow_name`` whose label ``label`` is ``value`` (polls)."""
    from skiff.client import models

    flows = models.FlowFilter(name=models.FlowFilterName(any_=[flow_name]))
    deadline = time.monotonic() + timeout
    while True:
        runs = client.flow_runs.filter(flows=flows, sort="EXPECTED_START_TIME_DESC", limit=50)
        found = [r for r in runs if (r.labels or {}).get(label) == value]
        if found and found[0].state_type in FINAL:
            return found[0]
        if time.monotonic() > deadline:
            states = [r.state_name for r in found]
            raise TimeoutError(f"no final run of {flow_name!r} with {label}={value!r}: {states}")
        time.sleep(0.1)


def describe_run(client: Client, flow_name: str, run: FlowRun, labels: tuple[str, ...] = ()) -> str:
    """One line: the run's flow and name, final state, task runs and logs, and some labels."""
    from skiff.client import models

    ids = [run.id]
    task_runs = client.task_runs.filter(
        task_runs=models.TaskRunFilter(flow_run_id=models.TaskRunFilterFlowRunId(any_=ids))
    )
    logs = client.logs.filter(
        logs=models.LogFilter(flow_run_id=models.LogFilterFlowRunId(any_=ids))
    )
    states = ", ".join(sorted(f"{t.name}={t.state_name}" for t in task_runs))
    shown = " ".join(f"{k}={(run.labels or {}).get(k)}" for k in labels)
    return (
        f"  {flow_name} run {run.name!r}: {run.state_name} | "
        f"task runs [{states}] | {len(logs)} logs | {shown}"
    )


# ---------------------------------------------------------------- the demos
def run_gcp_demo(api_url: str) -> list[str]:
    """Serve the example GCF targets on loopback against ``api_url``; lines about the runs."""
    from skiff import Client

    env = {"PREFECT_API_URL": api_url, "GOOGLE_CLOUD_PROJECT": "skiff-demo"}
    source = EXAMPLES / "gcp_functions.py"
    quote = FunctionsFramework(source, "quote", env).start()
    uploaded = FunctionsFramework(source, "object_uploaded", env).start()
    lines = ["Google Cloud Functions (functions-framework on 127.0.0.1):"]
    try:
        quote.wait_ready()
        uploaded.wait_ready()
        calls = []
        for query in ("?items=2,3", "?items=1&fail=1"):
            execution_id = uuid.uuid4().hex
            reply = quote.get(f"/{query}", headers={"Function-Execution-Id": execution_id})
            lines.append(f"  GET quote/{query}: {reply.status_code} {reply.text.strip()[:60]}")
            calls.append(("gcp-quote", "gcp.execution_id", execution_id))
        event_id = str(uuid.uuid4())
        data = {"bucket": "uploads", "name": "reports/2024.csv"}
        reply = uploaded.post_event(
            event_id, "google.cloud.storage.object.v1.finalized", "//storage/uploads", data
        )
        lines.append(f"  CloudEvent object_uploaded {event_id[:8]}: {reply.status_code}")
        calls.append(("gcp-object-uploaded", "gcp.event.id", event_id))
        with Client(api_url) as client:
            for flow_name, label, value in calls:
                run = find_run(client, flow_name, label, value)
                shown = ("gcp.trigger", "gcp.function.target", "gcp.project")
                lines.append(describe_run(client, flow_name, run, shown))
    finally:
        uploaded.terminate()
        quote.stop()
        uploaded.stop()
    return lines


def run_azure_demo(api_url: str) -> list[str]:
    """Invoke the example Azure app in-process against ``api_url``; lines about the runs."""
    import importlib.util

    from skiff import Client

    os.environ["PREFECT_API_URL"] = api_url
    spec = importlib.util.spec_from_file_location(
        "azure_function_app", EXAMPLES / "azure_function_app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.app
    lines = ["Azure Functions (v2 FunctionApp, invoked in-process like the worker):"]
    calls: list[tuple[str, str]] = []

    def invoke(name: str, flow_name: str, datum: Any, **kwargs: Any) -> None:
        context = azure_context(name)
        try:
            result = invoke_azure(app, name, datum, context=context, **kwargs)
            outcome = result.get_body().decode() if hasattr(result, "get_body") else repr(result)
        except Exception as exc:
            outcome = f"raised {type(exc).__name__}: {exc}"
        lines.append(f"  {name}: {outcome[:60]}")
        calls.append((flow_name, context.invocation_id))

    invoke("quote", "azure-quote", http_datum("GET", "http://localhost/api/quote?items=2,3"))
    invoke("quote", "azure-quote", http_datum("GET", "http://localhost/api/quote?fail=1"))
    invoke("nightly", "azure-nightly", timer_datum(past_due=True))
    body, metadata = queue_datum('{"customer": "ada", "items": [1, 4]}')
    invoke("place_order", "azure-order", body, trigger_metadata=metadata)
    with Client(api_url) as client:
        for flow_name, invocation_id in calls:
            run = find_run(client, flow_name, "azure.invocation_id", invocation_id)
            shown = ("azure.trigger", "azure.function_name")
            lines.append(describe_run(client, flow_name, run, shown))
    return lines


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4200/api"
    for line in [*run_gcp_demo(url), *run_azure_demo(url)]:
        print(line)
