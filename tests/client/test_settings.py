"""Settings: every malformed value is refused naming the variable; argument > env > default."""

from __future__ import annotations

import pytest

from skiff.client import Client, ConfigurationError, Settings
from skiff.client._constants import DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PREFECT_API_URL": "127.0.0.1:4200/api"}, "PREFECT_API_URL"),
        ({"PREFECT_API_URL": "ftp://host/api"}, "http:// or https://"),
        ({"PREFECT_API_URL": "http://"}, "PREFECT_API_URL"),
        ({"PREFECT_API_REQUEST_TIMEOUT": "-1"}, "PREFECT_API_REQUEST_TIMEOUT"),
        ({"PREFECT_API_REQUEST_TIMEOUT": "0"}, "positive"),
        ({"PREFECT_API_REQUEST_TIMEOUT": "soon"}, "is not a number"),
        ({"PREFECT_API_REQUEST_TIMEOUT": "nan"}, "finite"),
        ({"PREFECT_CLIENT_MAX_RETRIES": "2.5"}, "whole number"),
        ({"PREFECT_CLIENT_MAX_RETRIES": "-1"}, "at least 0"),
        ({"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "maybe"}, "not a boolean"),
        ({"SKIFF_STRICT": "2"}, "SKIFF_STRICT"),
        ({"SKIFF_HEARTBEAT_INTERVAL": "0"}, "SKIFF_HEARTBEAT_INTERVAL"),
        ({"SKIFF_HEARTBEAT_INTERVAL": "often"}, "is not a number"),
        ({"PREFECT_API_SSL_CERT_FILE": "/no/such/file.pem"}, "certificate"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        Settings.load(env)
    assert next(iter(env)) in str(info.value)


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"api_url": "localhost:4200"}, "api_url"),
        ({"request_timeout": -3}, "request_timeout"),
        ({"request_timeout": "x"}, "not a number"),
        ({"max_retries": True}, "whole number"),
        ({"nonsense": 1}, "unknown setting"),
    ],
)
def test_bad_arguments_are_refused(override: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        Settings.load({}, **override)


def test_missing_api_url_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="PREFECT_API_URL"):
        Settings.load({}).require_api_url()


def test_precedence_argument_then_environment_then_default() -> None:
    env = {"PREFECT_API_URL": "http://env:4200/api/", "PREFECT_API_REQUEST_TIMEOUT": "7"}
    assert Settings.load({}).request_timeout == DEFAULT_REQUEST_TIMEOUT
    assert Settings.load({}).max_retries == DEFAULT_MAX_RETRIES
    from_env = Settings.load(env)
    assert (from_env.api_url, from_env.request_timeout) == ("http://env:4200/api", 7.0)
    from_arg = Settings.load(env, api_url="https://arg/api", request_timeout=3)
    assert (from_arg.api_url, from_arg.request_timeout) == ("https://arg/api", 3.0)
    assert Settings.load({"PREFECT_API_KEY": "k"}, api_key=None).api_key is None


def test_bools_and_secrets() -> None:
    assert Settings.load({"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "Yes"}).tls_insecure_skip_verify
    assert not Settings.load({"SKIFF_REPORTING": "off"}).reporting
    shown = repr(Settings.load({"PREFECT_API_KEY": "secret-key"}))
    assert "secret-key" not in shown and "***" in shown


def test_environment_is_read_when_the_client_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ConfigurationError, match="PREFECT_API_URL"):
        Client()
    monkeypatch.setenv("PREFECT_API_URL", "http://first:4200/api")
    with Client() as first:
        assert first.api_url == "http://first:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", "http://second:4200/api")
    with Client() as second, Client("http://arg:1/api") as third:
        assert second.api_url == "http://second:4200/api"
        assert third.api_url == "http://arg:1/api"
