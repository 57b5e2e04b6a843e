"""Google Cloud Functions adapter without a server: bad input, deadlines, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff import ValidationError, flow
from skiff.adapters._protocol import Call
from skiff.adapters.gcp import CloudEventPlatform, HttpPlatform, cloud_event_flow, http_flow


def test_import_is_lazy() -> None:
    code = (
        "import sys, skiff.adapters.gcp, skiff.adapters.azure;"
        "heavy = ('flask', 'cloudevents', 'functions_framework', 'starlette', 'azure.functions');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("decorator", [http_flow, cloud_event_flow])
def test_wrong_decorator_use_is_refused_at_decoration(decorator: Any) -> None:
    with pytest.raises(ValidationError, match="needs a function or a @flow"):
        decorator("not a function")
    with pytest.raises(ValidationError, match="must take exactly one argument"):
        decorator(lambda: None)
    with pytest.raises(ValidationError, match="must take exactly one argument"):
        decorator(lambda a, b: None)
    with pytest.raises(ValidationError, match="unknown keyword argument 'timeuot'"):
        decorator(timeuot=3)
    with pytest.raises(ValidationError, match="timeout=-1"):
        decorator(timeout=-1)
    with pytest.raises(ValidationError, match="parameters= must be a callable"):
        decorator(parameters={"a": 1})


def test_http_function_called_without_a_flask_request() -> None:
    @http_flow
    def handler(request: Any) -> str:
        return "never"

    with pytest.raises(ValidationError, match=r"called with dict, not a flask\.Request"):
        handler({"path": "/"})


def test_cloud_event_function_called_without_a_cloud_event() -> None:
    @cloud_event_flow
    def handler(event: Any) -> None:
        pass

    with pytest.raises(ValidationError, match="called with dict, not a cloudevents CloudEvent"):
        handler({"id": "1", "data": {}})


def test_decorated_function_keeps_name_and_exposes_flow() -> None:
    @http_flow(name="priced")
    def price(request: Any) -> str:
        """Docs."""
        return "ok"

    @cloud_event_flow
    @flow(name="existing")
    def existing(day: str) -> None:
        pass

    assert price.__name__ == "price" and price.__doc__ == "Docs."
    assert price.flow.name == "priced"  # type: ignore[attr-defined]
    assert existing.__name__ == "existing" and existing.flow.name == "existing"  # type: ignore[attr-defined]


@pytest.mark.parametrize("platform", [HttpPlatform, CloudEventPlatform])
def test_deadline_precedence(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def remaining(**keywords: Any) -> float | None:
        seconds: float | None = platform(
            lambda request: None, platform.configure(keywords)
        ).remaining(Call((None,)))
        return seconds

    monkeypatch.delenv("FUNCTION_TIMEOUT_SEC", raising=False)
    monkeypatch.delenv("CLOUD_RUN_TIMEOUT_SECONDS", raising=False)
    assert remaining() is None
    monkeypatch.setenv("CLOUD_RUN_TIMEOUT_SECONDS", "300")
    assert remaining() == 300
    monkeypatch.setenv("FUNCTION_TIMEOUT_SEC", "60")
    assert remaining() == 60
    assert remaining(timeout=5) == 5
    assert remaining(timeout=0) == 60  # 0: no limit of its own
    monkeypatch.setenv("FUNCTION_TIMEOUT_SEC", "soon")  # malformed: logged, then ignored
    assert remaining() == 300
    monkeypatch.setenv("FUNCTION_TIMEOUT_SEC", "-5")
    assert remaining() == 300
    monkeypatch.setenv("FUNCTION_TIMEOUT_SEC", "0")  # set, and no limit
    assert remaining() is None


@pytest.fixture
def dead_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PREFECT_API_URL where nothing listens, a short flush, and reporters closed afterwards."""
    from scripts.prefect_server import free_port
    from skiff._engine import _reporter

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    monkeypatch.setenv("SKIFF_FLUSH_TIMEOUT", "0.3")
    before = set(_reporter._reporters)
    yield
    for settings in set(_reporter._reporters) - before:
        _reporter._reporters.pop(settings).close(0.2)


def test_skiff_failures_never_break_the_function(
    dead_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functions_framework

    from skiff.adapters import gcp

    source = tmp_path / "main.py"
    source.write_text(
        "from skiff.adapters.gcp import http_flow\n"
        "@http_flow\n"
        "def echo(request):\n"
        "    return request.args['x']\n"
    )
    client = functions_framework.create_app("echo", str(source)).test_client()
    reply = client.get("/?x=served")  # the server is down: the function still answers
    assert reply.status_code == 200 and reply.get_data(as_text=True) == "served"

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in skiff")

    monkeypatch.setattr(gcp.HttpPlatform, "trigger", broken)
    reply = client.get("/?x=again")
    assert reply.status_code == 200 and reply.get_data(as_text=True) == "again"
