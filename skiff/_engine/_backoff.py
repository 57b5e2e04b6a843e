"""``exponential_backoff``: Prefect's retry-delay helper for ``retry_delay_seconds``."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["exponential_backoff"]

# Prefect refuses more than 50 retry delays on a task, so the list never grows past it.
_MAX_DELAYS = 50


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """A ``retry_delay_seconds`` callable: given ``retries``, the delays ``factor * 2**n``.

    ``@task(retries=3, retry_delay_seconds=exponential_backoff(10))`` waits 10, 20 and 40
    seconds, exactly as Prefect's (at most 50 delays; an int factor gives ints).
    """

    def retry_backoff_callable(retries: int) -> list[float]:
        return [backoff_factor * 2**attempt for attempt in range(min(retries, _MAX_DELAYS))]

    return retry_backoff_callable
