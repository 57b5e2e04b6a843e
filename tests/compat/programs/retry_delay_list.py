"""retry_delay_seconds as a list, and retry_jitter_factor."""

from prefect import flow, task

attempts = {"n": 0}


@task(retries=3, retry_delay_seconds=[0, 0.2, 0.4], retry_jitter_factor=0)
def fragile() -> int:
    attempts["n"] += 1
    if attempts["n"] <= 2:
        raise ConnectionError("try again")
    return attempts["n"]


@flow
def with_delays() -> int:
    return fragile()


if __name__ == "__main__":
    print(with_delays())
