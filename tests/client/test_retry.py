"""The pure retry functions tenacity is driven by."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from skiff.client import APIConnectionError, APITimeoutError
from skiff.client._base import error_from_response
from skiff.client._constants import (
    BUSY_JITTER,
    RETRY_AFTER_CAP,
    RETRY_AFTER_JITTER,
    RETRY_INITIAL_DELAY,
    RETRY_JITTER,
    RETRY_MAX_DELAY,
)
from skiff.client._retry import (
    backoff_delay,
    cut_timeout,
    parse_retry_after,
    retry_delay,
    should_retry,
    sleep_fits,
)


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
    assert retry_delay(1, status_error(429, {"Retry-After": "7"}), rand=lambda: 0.0) == 7.0
    assert retry_delay(1, status_error(503, {"Retry-After": "9999"})) == RETRY_AFTER_CAP
    short = retry_delay(4, status_error(503, {"Retry-After": "0"}), rand=lambda: 0.5)
    assert short == backoff_delay(4, busy=True, rand=lambda: 0.5)


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


def test_regression_12_retry_budget_matches_prefect() -> None:
    # prefect-client sleeps 2, 4, 8, 16, 32 s (jittered) on a busy 503/429: about 62 s in all.
    for code in (503, 429):
        error = status_error(code)
        middle = [retry_delay(n, error, rand=lambda: 0.5) for n in range(1, 6)]
        assert middle == pytest.approx([2.0, 4.0, 8.0, 16.0, 32.0])
        low = sum(retry_delay(n, error, rand=lambda: 0.0) for n in range(1, 6))
        assert low >= 62.0 * (1 - BUSY_JITTER) > 15.5


def test_regression_12_retry_after_waits_at_least_the_server_value_times_up_to_1_2() -> None:
    error = status_error(503, {"Retry-After": "7"})
    assert retry_delay(1, error, rand=lambda: 0.0) == pytest.approx(7.0)
    assert retry_delay(1, error, rand=lambda: 1.0) == pytest.approx(7.0 * (1 + RETRY_AFTER_JITTER))
    # A Retry-After shorter than the busy backoff never shortens it.
    assert retry_delay(5, status_error(429, {"Retry-After": "1"}), rand=lambda: 0.5) == 32.0


def test_transient_errors_keep_the_short_schedule() -> None:
    # A dead server or a flaky proxy should fail fast; only "busy" answers wait long.
    for error in (status_error(502), status_error(408), APIConnectionError("reset")):
        assert retry_delay(1, error, rand=lambda: 0.5) == backoff_delay(1, rand=lambda: 0.5)


@pytest.mark.parametrize(
    ("delay", "deadline", "expected"),
    [(1.0, None, True), (1.0, 102.0, True), (2.0, 102.0, False), (3.0, 102.0, False)],
)
def test_sleep_fits_deadline(delay: float, deadline: float | None, expected: bool) -> None:
    assert sleep_fits(delay, deadline, now=100.0) is expected


@pytest.mark.parametrize(
    ("timeout", "deadline", "expected"),
    [
        (5.0, None, 5.0),
        (None, None, None),
        (5.0, 102.0, 2.0),
        (1.0, 102.0, 1.0),
        (None, 103.0, 3.0),
    ],
)
def test_timeout_cut_to_time_left(
    timeout: float | None, deadline: float | None, expected: float | None
) -> None:
    assert cut_timeout(timeout, deadline, now=100.0) == expected
