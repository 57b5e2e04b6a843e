"""Global concurrency limits and rate limits, as in Prefect's ``prefect.concurrency``.

``skiff.concurrency.sync`` and ``skiff.concurrency.asyncio`` hold Prefect 3.9.1's
``concurrency()`` and ``rate_limit()``, with the same arguments, HTTP calls, errors and
log lines; both drive the one mechanism in ``skiff.concurrency._core``.
"""

__all__: list[str] = []
