"""retry_delay_seconds from exponential_backoff (a callable)."""

from prefect import flow, task
from prefect.tasks import exponential_backoff

attempts = {"n": 0}


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=0.1))
def backoff() -> int:
    attempts["n"] += 1
    if attempts["n"] < 3:
        raise TimeoutError("slow service")
    return attempts["n"]


@flow
def with_backoff() -> int:
    return backoff()


if __name__ == "__main__":
    print(with_backoff())
