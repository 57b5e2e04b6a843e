"""A flow with retries: the whole flow runs again."""

from prefect import flow, task

runs = {"n": 0}


@task
def step() -> int:
    return runs["n"]


@flow(retries=1, retry_delay_seconds=0)
def retried() -> int:
    runs["n"] += 1
    value = step()
    if runs["n"] == 1:
        raise RuntimeError("first flow attempt fails")
    return value


if __name__ == "__main__":
    print(retried())
