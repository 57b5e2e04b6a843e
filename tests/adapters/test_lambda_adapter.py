"""lambda_flow in-process: trigger detection, metadata, bad input, fail-open, and parameters.

Tests marked ``server`` run flows against the session's real Prefect server; the others
run with ``SKIFF_REPORTING=false`` (no server at all).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from typing import Any

import httpx
import pytest

from skiff import ValidationError, flow, task
from skiff.adapters import _core
from skiff.adapters import aws_lambda as lam
from skiff.adapters.aws_lambda import _events, lambda_flow, trigger_type


class FakeContext:
    """The attributes awslambdaric's LambdaContext has, with a settable time budget."""

    def __init__(self, remaining_s: float = 30.0, request_id: str | None = None) -> None:
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = "orders"
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
        self.memory_limit_in_mb = "256"
        self.log_group_name = "/aws/lambda/orders"
        self.log_stream_name = "2026/01/01/[$LATEST]abc"
        self.identity = object()
        self._deadline = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def http_v2(
    body: Any = None, query: dict[str, str] | None = None, url: bool = False
) -> dict[str, Any]:
    domain = "abc.lambda-url.eu-west-1.on.aws" if url else "abc.execute-api.eu-west-1.amazonaws.com"
    return {
        "version": "2.0",
        "rawPath": "/",
        "queryStringParameters": query,
        "requestContext": {"http": {"method": "POST"}, "domainName": domain},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


SAMPLES: list[tuple[Any, str]] = [
    ({"Records": [{"eventSource": "aws:sqs", "messageId": "1"}]}, "sqs"),
    ({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}, "sns"),
    ({"Records": [{"eventSource": "aws:s3", "s3": {}}]}, "s3"),
    ({"Records": [{"eventSource": "aws:dynamodb"}]}, "dynamodb"),
    ({"Records": [{"eventSource": "aws:kinesis"}]}, "kinesis"),
    ({"eventSource": "aws:kafka", "records": {}}, "kafka"),
    ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, "schedule"),
    ({"source": "orders", "detail-type": "OrderPlaced", "detail": {}}, "eventbridge"),
    (
        {"httpMethod": "GET", "resource": "/", "requestContext": {"resourcePath": "/"}},
        "api-gateway-v1",
    ),
    (http_v2(), "api-gateway-v2"),
    (http_v2(url=True), "function-url"),
    ({"httpMethod": "GET", "requestContext": {"elb": {}}}, "alb"),
    ({"awslogs": {"data": ""}}, "cloudwatch-logs"),
    ({"flow_run_id": str(uuid.uuid4())}, "deployment"),
    ({"x": 1}, "direct"),
    ([1, 2], "direct"),
    ("text", "direct"),
    (None, "direct"),
]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_REPORTING", "false")


@pytest.mark.parametrize(("event", "kind"), SAMPLES, ids=[k for _, k in SAMPLES])
def test_trigger_type_from_event_shape(event: Any, kind: str) -> None:
    assert trigger_type(event) == kind


def test_http_fields_take_path_query_then_json_body() -> None:
    event = http_v2({"n": 2, "who": "body"}, {"who": "query", "q": "1"})
    event["pathParameters"] = {"id": "7"}
    assert _events.http_fields(event) == {"id": "7", "who": "body", "q": "1", "n": 2}
    event["body"] = base64.b64encode(b'{"n": 3}').decode()
    event["isBase64Encoded"] = True
    assert _events.http_fields(event)["n"] == 3
    event["body"] = "not json"
    assert _events.http_fields(event) == {"id": "7", "who": "query", "q": "1"}


def test_metadata_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    ctx = FakeContext()
    event = {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:q"}]}
    trigger = lam.describe(event, ctx)
    assert _core.labels(trigger.labels) == {
        "aws.lambda.request_id": ctx.aws_request_id,
        "aws.lambda.function_name": "orders",
        "aws.lambda.function_arn": ctx.invoked_function_arn,
        "aws.lambda.function_version": "$LATEST",
        "aws.region": "eu-west-1",
        "aws.lambda.memory_mb": 256,
        "aws.lambda.cold_start": trigger.labels["aws.lambda.cold_start"],
        "aws.lambda.trigger": "sqs",
        "aws.lambda.event_source_arn": "arn:aws:sqs:q",
    }
    assert trigger.idempotency_key == f"aws-lambda:{ctx.aws_request_id}"
    assert trigger.deadline is not None and 29 < trigger.deadline - time.monotonic() <= 30
    assert lam.describe({}, ctx).labels["aws.lambda.cold_start"] is False
    assert lam.describe({}, None).deadline is None  # called directly, without a context


def test_context_is_recorded_by_its_safe_fields() -> None:
    ctx = FakeContext()
    summary = lam._summarize(ctx)
    assert summary["aws_request_id"] == ctx.aws_request_id
    assert "identity" not in summary and json.dumps(summary)
    assert _core.summarize(object()) == "<builtins.object>"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lambda_flow(123), "lambda_flow needs a function or a @flow, got 123"),
        (lambda: lambda_flow(int), "needs a function or a @flow"),
        (
            lambda: lambda_flow(retrys=2),
            "unknown keyword argument 'retrys'; did you mean 'retries'?",
        ),
        (lambda: lambda_flow(lambda e, c: e, bogus=1), "unknown keyword argument 'bogus'"),
        (lambda: lambda_flow(retries=-1), "retries=-1"),
        (lambda: lambda_flow(parameters=5), "parameters= must be a callable"),
        (lambda: lambda_flow(timeout_margin="1"), "timeout_margin='1'"),
        (lambda: lambda_flow(timeout_state="Done"), "timeout_state='Done'"),
        (lambda: lambda_flow(sqs_batch="yes")(lambda r: r), "sqs_batch='yes' must be a bool"),
        (lambda: lambda_flow(flow(lambda x: x), sqs_batch=True), "not a @flow"),
    ],
)
def test_bad_input_fails_at_decoration_with_a_typed_error(call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace("?", r"\?")):
        call()


def test_bare_and_with_keywords_sync_and_async(offline: None) -> None:
    @lambda_flow
    def bare(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Doc."""
        return {"got": event["x"]}

    @lambda_flow(name="named", retries=1, log_prints=True)
    async def named(event: dict[str, Any], context: Any) -> int:
        await asyncio.sleep(0)
        return 5

    assert bare({"x": 1}, FakeContext()) == {"got": 1}
    assert bare.__name__ == "bare" and bare.__doc__ == "Doc."
    assert bare.flow.name == "bare" and named.flow.name == "named"
    assert named({}, FakeContext()) == 5


def test_user_exception_is_reraised_unchanged(offline: None) -> None:
    boom = KeyError("missing")

    @lambda_flow
    def handler(event: Any, context: Any) -> None:
        raise boom

    with pytest.raises(KeyError) as info:
        handler({}, FakeContext())
    assert info.value is boom


def test_wrapped_flow_parameters_from_event_or_callable(offline: None) -> None:
    @flow
    def add(a: int, b: int = 10) -> int:
        return a + b

    assert lambda_flow(add)({"a": 1, "unrelated": 2}, FakeContext()) == 11
    with_mapper = lambda_flow(add, parameters=lambda event: {"a": event["n"], "b": 0})
    assert with_mapper({"n": 4}, FakeContext()) == 4


def test_http_handler_return_value_passes_through(offline: None) -> None:
    @flow
    def greet(name: str) -> dict[str, Any]:
        return {"statusCode": 201, "body": f"hi {name}"}

    handler = lambda_flow(greet)
    assert handler(http_v2({"name": "ada"}, url=True), FakeContext()) == greet.fn("ada")
    assert handler(http_v2(None, {"name": "bob"}), FakeContext())["body"] == "hi bob"


def test_sqs_batch_partial_failures_and_fifo(offline: None) -> None:
    seen: list[str] = []

    @lambda_flow(sqs_batch=True)
    def on_record(record: dict[str, Any], context: Any) -> None:
        seen.append(record["messageId"])
        assert context is not None
        if record["body"] == "bad":
            raise ValueError(record["messageId"])

    def batch(arn: str) -> dict[str, Any]:
        bodies = [("a", "ok"), ("b", "bad"), ("c", "ok")]
        records = [
            {"messageId": m, "body": b, "eventSource": "aws:sqs", "eventSourceARN": arn}
            for m, b in bodies
        ]
        return {"Records": records}

    ctx = FakeContext()
    assert on_record(batch("arn:aws:sqs:us-east-1:1:q"), ctx) == {
        "batchItemFailures": [{"itemIdentifier": "b"}]
    }
    seen.clear()
    # FIFO: everything after the first failure is returned too, and not processed.
    assert on_record(batch("arn:aws:sqs:us-east-1:1:q.fifo"), ctx) == {
        "batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]
    }
    assert seen == ["a", "b"]
    with pytest.raises(TypeError, match="not an SQS batch"):
        on_record({"x": 1}, ctx)


def test_async_sqs_record_handler(offline: None) -> None:
    @lambda_flow(sqs_batch=True)
    async def on_record(record: dict[str, Any]) -> None:
        if record["body"] == "bad":
            raise ValueError("bad")

    event = {
        "Records": [
            {"messageId": m, "body": b, "eventSource": "aws:sqs"}
            for m, b in (("1", "bad"), ("2", "ok"))
        ]
    }
    assert on_record(event, FakeContext()) == {"batchItemFailures": [{"itemIdentifier": "1"}]}


def test_skiff_errors_never_break_the_handler(
    offline: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Any] = []

    @lambda_flow
    def handler(event: Any, context: Any) -> str:
        calls.append(event)
        return "ok"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("skiff bug")

    monkeypatch.setattr(lam, "describe", broken)
    assert handler({"n": 1}, FakeContext()) == "ok"
    monkeypatch.setattr("skiff._engine.run_flow", broken)
    with caplog.at_level(logging.ERROR, logger="skiff"):
        assert handler({"n": 2}, FakeContext()) == "ok"
        assert handler({"n": 3}, FakeContext()) == "ok"
    assert calls == [{"n": 1}, {"n": 2}, {"n": 3}]
    starting = [r for r in caplog.records if "starting the flow run" in r.getMessage()]
    assert len(starting) <= 1  # logged once per kind and process


def test_no_api_url_runs_the_handler_anyway(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREFECT_API_URL", "SKIFF_REPORTING"):
        monkeypatch.delenv(name, raising=False)

    @lambda_flow
    def handler(event: Any, context: Any) -> int:
        return 3

    assert handler({}, FakeContext()) == 3


# ---------------------------------------------------------------- against the server


def read_run(api_url: str, key: str) -> dict[str, Any]:
    body = {"flow_runs": {"idempotency_key": {"any_": [key]}}}
    runs = httpx.post(f"{api_url}/flow_runs/filter", json=body).json()
    assert len(runs) == 1, runs
    return runs[0]  # type: ignore[no-any-return]


@pytest.mark.server
def test_guard_marks_the_run_before_the_deadline(api_env: str) -> None:
    @task
    def step() -> int:
        return 1

    @lambda_flow(timeout_margin=0.3, timeout_state="Crashed")
    def slow(event: Any, context: Any) -> str:
        step()
        time.sleep(0.8)
        return "finished late"

    ctx = FakeContext(remaining_s=0.6)
    started = time.monotonic()
    assert slow({}, ctx) == "finished late"  # the runtime would have killed it; we did not
    assert time.monotonic() - started < 1.5
    run = read_run(api_env, f"aws-lambda:{ctx.aws_request_id}")
    assert (run["state_type"], run["state_name"]) == ("CRASHED", "Crashed")


@pytest.mark.server
def test_guard_is_cancelled_when_the_handler_returns(api_env: str) -> None:
    @lambda_flow(timeout_margin=0.2)
    def quick(event: Any, context: Any) -> str:
        return "done"

    ctx = FakeContext(remaining_s=0.5)
    assert quick({}, ctx) == "done"
    time.sleep(0.4)  # past the guard's time
    run = read_run(api_env, f"aws-lambda:{ctx.aws_request_id}")
    assert run["state_type"] == "COMPLETED"


@pytest.mark.server
def test_event_with_flow_run_id_runs_that_run(api_env: str) -> None:
    @flow(name=f"deployed-{uuid.uuid4().hex[:8]}")
    def deployed(day: str = "?") -> str:
        return f"ran {day}"

    flow_id = httpx.post(f"{api_env}/flows/", json={"name": deployed.name}).json()["id"]
    created = httpx.post(
        f"{api_env}/flow_runs/",
        json={
            "flow_id": flow_id,
            "parameters": {"day": "monday"},
            "state": {"type": "SCHEDULED", "name": "Scheduled"},
        },
    ).json()
    handler = lambda_flow(deployed)
    assert handler({"flow_run_id": created["id"]}, FakeContext()) == "ran monday"
    run = httpx.get(f"{api_env}/flow_runs/{created['id']}").json()
    assert run["state_type"] == "COMPLETED"
    body = {"flows": {"name": {"any_": [deployed.name]}}}
    assert len(httpx.post(f"{api_env}/flow_runs/filter", json=body).json()) == 1


@pytest.mark.server
def test_http_flow_parameters_recorded(api_env: str) -> None:
    @flow(name=f"http-{uuid.uuid4().hex[:8]}")
    def area(w: int, h: int) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"area": w * h})}

    ctx = FakeContext()
    reply = lambda_flow(area)(http_v2({"w": 3, "h": 4}, {"ignored": "1"}), ctx)
    assert json.loads(reply["body"]) == {"area": 12}
    run = read_run(api_env, f"aws-lambda:{ctx.aws_request_id}")
    assert run["parameters"] == {"w": 3, "h": 4}
    assert run["labels"]["aws.lambda.trigger"] == "api-gateway-v2"
    assert run["state_type"] == "COMPLETED"


def test_orchestration_stop_skips_the_handler(
    offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skiff._engine import FlowRunAborted

    calls: list[Any] = []

    @lambda_flow
    def handler(event: Any, context: Any) -> str:
        calls.append(event)
        return "ran"

    def aborted(*args: Any, **kwargs: Any) -> Any:
        raise FlowRunAborted("the run was cancelled")

    monkeypatch.setattr("skiff._engine.run_flow", aborted)
    assert handler({}, FakeContext()) is None
    assert calls == []


def test_a_worker_events_env_is_read_and_a_bad_one_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = FakeContext()
    good = lam.describe({"flow_run_id": "r1", "env": {"GREETING": "hi"}}, ctx)
    assert (good.flow_run_id, good.env) == ("r1", {"GREETING": "hi"})
    assert lam.describe({"env": {"GREETING": "hi"}}, ctx).env is None  # only a worker's run
    with caplog.at_level("WARNING", logger="skiff"):
        bad = lam.describe({"flow_run_id": "r2", "env": {"RETRIES": 3}}, ctx)
    assert (bad.flow_run_id, bad.env) == ("r2", None)  # the run is still taken over
    assert "must map names to strings" in caplog.text
