"""The one platform protocol and the one wrapper builder, across Lambda, Google Cloud and Azure.

Tests marked ``server`` run flows against the session's real Prefect server; the others
run with ``SKIFF_REPORTING=false``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import azure.functions as func
import flask
import httpx
import pytest
from cloudevents.http import CloudEvent
from werkzeug.test import EnvironBuilder

from skiff import flow, task
from skiff.adapters import _core
from skiff.adapters._builder import decorate
from skiff.adapters._protocol import Call, Platform, TimeoutPlatform, Trigger
from skiff.adapters.aws_lambda import LambdaPlatform, lambda_flow
from skiff.adapters.azure import AzurePlatform, azure_flow
from skiff.adapters.gcp import CloudEventPlatform, HttpPlatform, cloud_event_flow, http_flow

PLATFORMS: list[type[Platform]] = [LambdaPlatform, HttpPlatform, CloudEventPlatform, AzurePlatform]


class Context:
    """The Lambda context attributes the adapter reads."""

    def __init__(self, remaining_s: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "orders"
        self._deadline = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def flask_request(query: str = "q=1", json: Any = None) -> Any:
    return flask.Request(EnvironBuilder(path="/", query_string=query, json=json).get_environ())


def cloud_event() -> Any:
    attributes = {"id": uuid.uuid4().hex, "source": "//test", "type": "t.created"}
    return CloudEvent(attributes, {"n": 1})


def azure_request() -> func.HttpRequest:
    return func.HttpRequest("GET", "http://x/?q=hi", params={"q": "hi"}, body=b"")


# Each adapter, a sync and an async handler for it, and a call the runtime would make.
CASES: list[tuple[Any, Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]]] = [
    (lambda_flow, lambda: (({"x": 1}, Context()), {})),
    (http_flow, lambda: ((flask_request(),), {})),
    (cloud_event_flow, lambda: ((cloud_event(),), {})),
    (azure_flow, lambda: ((), {"req": azure_request()})),
]
IDS = ["lambda", "gcp-http", "gcp-cloudevent", "azure"]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_REPORTING", "false")


def handlers() -> tuple[Callable[..., Any], Callable[..., Any]]:
    def sync_handler(req: Any, context: Any = None) -> str:
        return "sync"

    async def async_handler(req: Any, context: Any = None) -> str:
        await asyncio.sleep(0)
        return "async"

    return sync_handler, async_handler


def test_platforms_implement_the_whole_protocol() -> None:
    for platform in PLATFORMS:
        assert issubclass(platform, Platform) and not inspect.isabstract(platform)
    assert issubclass(HttpPlatform, TimeoutPlatform) and issubclass(AzurePlatform, TimeoutPlatform)
    assert {p.owner for p in PLATFORMS} == {
        "lambda_flow",
        "http_flow",
        "cloud_event_flow",
        "azure_flow",
    }


@pytest.mark.parametrize(("adapter", "make_call"), CASES, ids=IDS)
def test_one_builder_makes_every_wrapper(adapter: Any, make_call: Any, offline: None) -> None:
    sync_handler, async_handler = handlers()
    sync_wrapper, async_wrapper = adapter(sync_handler), adapter(async_handler)
    # The same two code objects serve every platform: no per-platform sync/async twins.
    assert sync_wrapper.__code__.co_qualname == "build.<locals>.wrapper_sync"
    awaited = adapter is not lambda_flow  # awslambdaric calls handlers synchronously
    expected = "wrapper_async" if awaited else "wrapper_sync"
    assert async_wrapper.__code__.co_qualname == f"build.<locals>.{expected}"
    assert inspect.iscoroutinefunction(async_wrapper) is awaited
    args, kwargs = make_call()
    assert sync_wrapper(*args, **kwargs) == "sync"
    result = async_wrapper(*make_call()[0], **make_call()[1])
    assert (asyncio.run(result) if awaited else result) == "async"
    assert sync_wrapper.__name__ == "sync_handler" and sync_wrapper.flow.name == "sync-handler"


def test_the_wrapper_has_the_platform_signature() -> None:
    sync_handler, _ = handlers()
    assert list(inspect.signature(lambda_flow(sync_handler)).parameters) == ["event", "context"]
    assert list(inspect.signature(http_flow(lambda r: r)).parameters) == ["request"]
    assert list(inspect.signature(cloud_event_flow(lambda e: e)).parameters) == ["event"]
    assert list(inspect.signature(azure_flow(sync_handler)).parameters) == ["req", "context"]


def test_describe_joins_trigger_labels_and_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SERVICE", "orders-svc")
    monkeypatch.delenv("FUNCTION_TARGET", raising=False)
    monkeypatch.delenv("FUNCTION_TIMEOUT_SEC", raising=False)
    monkeypatch.setenv("CLOUD_RUN_TIMEOUT_SECONDS", "60")

    def on_request(request: Any) -> None:
        pass

    platform = HttpPlatform(on_request, HttpPlatform.configure({}))
    request = flask_request("a=1", {"b": 2})
    trigger = platform.describe(platform.read((request,), {}))
    assert trigger.event is request and trigger.fields == {"a": "1", "b": 2}
    assert _core.labels(trigger.labels) == {
        "gcp.function.name": "orders-svc",
        "gcp.function.target": "on_request",
        "gcp.trigger": "http",
    }
    assert trigger.deadline is not None and 59 < trigger.deadline - time.monotonic() <= 60

    lam = LambdaPlatform(lambda e, c: None, LambdaPlatform.configure({}))
    context = Context(remaining_s=5)
    trigger = lam.describe(lam.read(({"flow_run_id": "abc"},), {"context": context}))
    assert trigger.flow_run_id == "abc"
    assert trigger.idempotency_key == f"aws-lambda:{context.aws_request_id}"
    assert trigger.labels["aws.lambda.trigger"] == "deployment"
    assert trigger.deadline is not None and 4 < trigger.deadline - time.monotonic() <= 5

    az = AzurePlatform(lambda msg: None, AzurePlatform.configure({"timeout": 90}))
    message = func.QueueMessage(id="m-1", body=b'{"order": 7}')
    trigger = az.describe(az.read((message,), {}))
    assert trigger.idempotency_key == "azure-queue:m-1" and trigger.fields == {"order": 7}
    assert trigger.labels["azure.queue.message_id"] == "m-1"
    assert trigger.labels["azure.trigger"] == "queue"
    assert trigger.deadline is not None and 89 < trigger.deadline - time.monotonic() <= 90


@pytest.mark.parametrize(("adapter", "make_call"), CASES, ids=IDS)
def test_a_failing_description_never_breaks_the_handler(
    adapter: Any,
    make_call: Any,
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sync_handler, _ = handlers()
    wrapper = adapter(sync_handler)
    platform = {
        lambda_flow: LambdaPlatform,
        http_flow: HttpPlatform,
        cloud_event_flow: CloudEventPlatform,
        azure_flow: AzurePlatform,
    }[adapter]

    def broken(self: Any, call: Call) -> Any:
        raise LookupError(f"a bug in skiff {uuid.uuid4()}")

    monkeypatch.setattr(platform, "labels", broken)
    args, kwargs = make_call()
    with caplog.at_level(logging.DEBUG, logger="skiff"):
        assert wrapper(*args, **kwargs) == "sync"
    assert any(f"reading {platform.source}" in r.getMessage() for r in caplog.records)


def test_misuse_is_the_callers_error_not_swallowed(offline: None) -> None:
    sync_handler, _ = handlers()
    with pytest.raises(TypeError):
        lambda_flow(sync_handler)()
    with pytest.raises(ValueError, match=r"not a flask\.Request"):
        http_flow(lambda r: r)("not a request")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_settle_runs_once_after_the_run_ended_even_when_the_handler_raises(
    is_async: bool, offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skiff._engine._context import current_flow

    settled: list[tuple[Any, bool]] = []

    def settle(self: Any, call: Call, drain: Callable[[], None]) -> None:
        settled.append((call.value, current_flow() is None))
        drain()

    monkeypatch.setattr(AzurePlatform, "settle", settle)
    boom = KeyError("boom")

    def fails(req: func.HttpRequest) -> None:
        raise boom

    async def fails_async(req: func.HttpRequest) -> None:
        raise boom

    wrapper = azure_flow(fails_async if is_async else fails)
    request = azure_request()
    with pytest.raises(KeyError) as raised:
        result = wrapper(request)
        if is_async:
            asyncio.run(result)
    assert raised.value is boom
    assert settled == [(request, True)]


@pytest.mark.server
def test_lambda_settle_can_hand_the_drain_over(
    api_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extension hook: the wrapper returns, the drain runs later in another thread."""
    handed: list[Callable[[], None]] = []
    monkeypatch.setattr(LambdaPlatform, "settle", lambda self, call, drain: handed.append(drain))

    @task
    def double(x: int) -> int:
        return 2 * x

    @lambda_flow(name=f"handed-{uuid.uuid4().hex[:8]}")
    def handler(event: Any, context: Any) -> int:
        return double(event["x"])

    context = Context()
    assert handler({"x": 21}, context) == 42
    assert len(handed) == 1
    worker = threading.Thread(target=handed[0])
    worker.start()
    worker.join(30)
    body = {"flow_runs": {"idempotency_key": {"any_": [f"aws-lambda:{context.aws_request_id}"]}}}
    runs = httpx.post(f"{api_env}/flow_runs/filter", json=body).json()
    assert [run["state_type"] for run in runs] == ["COMPLETED"]


class ToyPlatform(Platform):
    """A platform written from the protocol alone: ``handler(message)``, a dict with an id."""

    owner: ClassVar[str] = "toy_flow"
    source: ClassVar[str] = "the toy message"

    def signature(self) -> inspect.Signature:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature([inspect.Parameter("message", kind)])

    def read(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        message = self.signature().bind(*args, **kwargs).arguments["message"]
        return Call((message,), {}, message)

    def trigger(self, call: Call) -> Trigger:
        return Trigger(call.value, idempotency_key=f"toy:{call.value['id']}")

    def labels(self, call: Call) -> dict[str, Any]:
        return {"toy.id": call.value["id"], "toy.unset": None}

    def remaining(self, call: Call) -> float | None:
        return 30.0


@pytest.mark.server
def test_a_new_platform_needs_only_the_protocol(api_env: str) -> None:
    calls: list[Any] = []

    def toy_flow(fn: Any = None, /, **options: Any) -> Any:
        return decorate(ToyPlatform, fn, options)

    @toy_flow(name=f"toy-{uuid.uuid4().hex[:8]}")
    def on_message(message: dict[str, Any]) -> str:
        calls.append(message)
        return "done"

    message = {"id": uuid.uuid4().hex, "body": "hi"}
    assert on_message(message) == "done"
    assert on_message(message) is None  # a repeat of a completed delivery does not run again
    assert calls == [message]
    body = {"flow_runs": {"idempotency_key": {"any_": [f"toy:{message['id']}"]}}}
    [run] = httpx.post(f"{api_env}/flow_runs/filter", json=body).json()
    assert run["state_type"] == "COMPLETED" and run["parameters"] == {"message": message}
    assert run["labels"]["toy.id"] == message["id"] and "toy.unset" not in run["labels"]


def test_environment_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKIFF_T_A", raising=False)
    monkeypatch.setenv("SKIFF_T_B", "")
    monkeypatch.setenv("SKIFF_T_C", "c")
    assert _core.first_env(("SKIFF_T_A", "SKIFF_T_B", "SKIFF_T_C")) == "c"
    assert _core.env_labels({"x": ("SKIFF_T_A",), "y": ("SKIFF_T_C",)}) == {"x": None, "y": "c"}
    monkeypatch.setenv("SKIFF_T_A", "bad")
    monkeypatch.setenv("SKIFF_T_B", "12")
    # Malformed: logged, next name tried; a valid value wins; 0 means no limit.
    assert _core.env_seconds(("SKIFF_T_A", "SKIFF_T_B"), float) == 12
    monkeypatch.setenv("SKIFF_T_B", "0")
    assert _core.env_seconds(("SKIFF_T_B", "SKIFF_T_C"), float) is None
    assert _core.env_seconds(("SKIFF_T_NONE",), float) is None


def test_loaded_class_never_imports() -> None:
    assert "json.tool" not in sys.modules or pytest.skip("json.tool already imported")
    assert _core.loaded_class("json.tool", "main") is None
    assert "json.tool" not in sys.modules
    assert _core.loaded_class("inspect", "Signature") is inspect.Signature


def test_wrapped_flow_gets_parameters_through_the_platform(offline: None) -> None:
    @flow
    def add(a: int, q: str = "?") -> str:
        return f"{a}{q}"

    assert http_flow(add)(flask_request("q=!", {"a": 4})) == "4!"
    assert (
        cloud_event_flow(add, parameters=lambda event: {"a": event.data["n"]})(cloud_event())
        == "1?"
    )
