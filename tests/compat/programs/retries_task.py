"""A task that fails twice, then succeeds, with retries=2."""

from prefect import flow, task

attempts = {"n": 0}


@task(retries=2)
def flaky() -> str:
    attempts["n"] += 1
    if attempts["n"] < 3:
        raise RuntimeError(f"attempt {attempts['n']} failed")
    return "ok"


@flow
def resilient() -> str:
    return f"{flaky()} after {attempts['n']}"


if __name__ == "__main__":
    print(resilient())
