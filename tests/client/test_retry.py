"""The pure retry functions tenacity is driven by."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from skiff.client import APIConnectionError, APITimeoutError
from skiff.client._base import error_from_response
from skiff.client._constants import (
    RETRY_AFTER_CAP,
    RETRY_INITIAL_DELAY,
    RETRY_JITTER,
    RETRY_MAX_DELAY,
)
from skiff.client._retry import backoff_delay, parse_retry_after, retry_delay, should_retry


def status_error(code: int, headers: dict[str, str] | None = None) -> Exception:
    request = httpx.Request("GET", "http://x/api/flows/")
    return error_from_response(httpx.Response(code, headers=headers, request=request))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-4", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 10, 50])
def test_backoff_bounds(attempt: int) -> None:
    base = min(RETRY_MAX_DELAY, RETRY_INITIAL_DELAY * 2 ** (attempt - 1))
    low = backoff_delay(attempt, rand=lambda: 0.0)
    high = backoff_delay(attempt, rand=lambda: 1.0)
    assert low == pytest.approx(base * (1 - RETRY_JITTER))
    assert high == pytest.approx(base * (1 + RETRY_JITTER))
    assert high <= RETRY_MAX_DELAY * (1 + RETRY_JITTER)


def test_retry_delay_prefers_a_longer_retry_after_and_caps_it() -> None:
    assert retry_delay(1, status_error(429, {"Retry-After": "7"}), rand=lambda: 0.5) == 7.0
    assert retry_delay(1, status_error(503, {"Retry-After": "9999"})) == RETRY_AFTER_CAP
    short = retry_delay(4, status_error(503, {"Retry-After": "0"}), rand=lambda: 0.5)
    assert short == backoff_delay(4, rand=lambda: 0.5)


@pytest.mark.parametrize(
    ("code", "retried"),
    [
        (408, True),
        (429, True),
        (502, True),
        (503, True),
        (500, False),
        (504, False),
        (404, False),
        (422, False),
    ],
)
def test_which_statuses_are_retried(code: int, retried: bool) -> None:
    assert should_retry(status_error(code)) is retried


def test_connection_errors_are_retried_others_not() -> None:
    assert should_retry(APIConnectionError("reset"))
    assert should_retry(APITimeoutError("slow"))
    assert not should_retry(ValueError("bug"))
