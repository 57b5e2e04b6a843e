"""Azure Functions adapter without a server: bad input, signatures, deadlines."""

from __future__ import annotations

import asyncio
import inspect

import azure.functions as func
import pytest

from skiff import ConfigurationError, ValidationError, flow
from skiff.adapters._protocol import Call
from skiff.adapters.azure import AzurePlatform, azure_flow, parse_timespan


def test_azure_flow_above_the_app_decorator_is_refused() -> None:
    app = func.FunctionApp()
    with pytest.raises(ValidationError, match="closest to the function"):

        @azure_flow
        @app.route(route="x")
        def handler(req: func.HttpRequest) -> str:
            return "x"


def test_bad_targets_and_keywords_are_refused_at_decoration() -> None:
    with pytest.raises(ValidationError, match="needs a function or a @flow"):
        azure_flow(42)
    with pytest.raises(ValidationError, match="unknown keyword argument"):
        azure_flow(retires=2)
    with pytest.raises(ValidationError, match="timeout='5m'"):
        azure_flow(timeout="5m")
    with pytest.raises(ValidationError, match="arg_name= is for wrapping a @flow"):
        azure_flow(arg_name="req")(lambda req: None)

    @flow
    def existing(x: int) -> int:
        return x

    with pytest.raises(ValidationError, match="must be a parameter name"):
        azure_flow(existing, arg_name="not a name")


def test_call_with_the_wrong_trigger_type_or_no_argument() -> None:
    @azure_flow
    def handler(req: func.HttpRequest) -> str:
        return "never"

    with pytest.raises(ValidationError, match=r"got dict for 'req', not azure\.functions"):
        handler(req={"method": "GET"})
    with pytest.raises(ValidationError, match=r"handler\(\) was called wrongly"):
        handler()


def test_worker_sees_the_bindings_plus_context() -> None:
    @azure_flow
    def plain(req: func.HttpRequest, msg: func.Out[str]) -> str:
        return "x"

    @azure_flow
    async def declared(timer: func.TimerRequest, context: func.Context) -> None:
        pass

    @flow
    def existing(customer: str) -> None:
        pass

    wrapped = azure_flow(existing, arg_name="msg")
    assert list(inspect.signature(plain).parameters) == ["req", "msg", "context"]
    assert list(inspect.signature(declared).parameters) == ["timer", "context"]
    assert inspect.iscoroutinefunction(declared) and not inspect.iscoroutinefunction(plain)
    assert list(inspect.signature(wrapped).parameters) == ["msg", "context"]


def test_direct_call_without_context_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_REPORTING", "false")

    @azure_flow
    def echo(req: func.HttpRequest) -> str:
        return req.params["q"]

    request = func.HttpRequest("GET", "http://x/?q=hi", params={"q": "hi"}, body=b"")
    assert echo(request) == "hi"


def test_timespans_and_deadline_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_timespan("00:05:00") == 300
    assert parse_timespan("1.00:00:30") == 86430
    assert parse_timespan("90") == 90 and parse_timespan("-1") is None
    with pytest.raises(ConfigurationError):
        parse_timespan("five minutes")

    def remaining(**keywords: object) -> float | None:
        platform = AzurePlatform(lambda req: None, AzurePlatform.configure(keywords))
        return platform.remaining(Call((None,)))

    monkeypatch.delenv("SKIFF_AZURE_FUNCTION_TIMEOUT", raising=False)
    monkeypatch.delenv("AzureFunctionsJobHost__functionTimeout", raising=False)
    assert remaining() is None
    monkeypatch.setenv("AzureFunctionsJobHost__functionTimeout", "00:10:00")
    assert remaining() == 600
    monkeypatch.setenv("SKIFF_AZURE_FUNCTION_TIMEOUT", "120")
    assert remaining() == 120
    assert remaining(timeout=7.5) == 7.5
    monkeypatch.setenv("SKIFF_AZURE_FUNCTION_TIMEOUT", "later")  # malformed: logged, ignored
    assert remaining() == 600
    monkeypatch.setenv("SKIFF_AZURE_FUNCTION_TIMEOUT", "-1")  # host.json's "no limit"
    assert remaining() is None


def test_skiff_failures_never_break_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.prefect_server import free_port
    from skiff._engine import _reporter
    from skiff.adapters import azure

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    monkeypatch.setenv("SKIFF_FLUSH_TIMEOUT", "0.3")
    before = set(_reporter._reporters)

    @azure_flow
    async def echo(req: func.HttpRequest) -> str:
        return str(req.params["q"])

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in skiff")

    request = func.HttpRequest("GET", "http://x/?q=hi", params={"q": "hi"}, body=b"")
    try:
        assert asyncio.run(echo(request)) == "hi"  # the server is down
        monkeypatch.setattr(azure.AzurePlatform, "labels", broken)
        assert asyncio.run(echo(request)) == "hi"
    finally:
        for settings in set(_reporter._reporters) - before:
            _reporter._reporters.pop(settings).close(0.2)
