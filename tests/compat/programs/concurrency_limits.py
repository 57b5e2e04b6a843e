"""Global concurrency: concurrency() around work, rate_limit() before calls."""

import os

from prefect import flow, task
from prefect.concurrency.sync import concurrency, rate_limit

TAG = os.environ.get("COMPAT_TAG", "local")


@task
def guarded(n: int) -> int:
    with concurrency(f"compat-db-{TAG}", occupy=1):
        return n * 2


@flow
def limited() -> list[int]:
    rate_limit(f"compat-api-{TAG}", strict=False)
    return [guarded(i) for i in range(3)]


if __name__ == "__main__":
    print(limited())
