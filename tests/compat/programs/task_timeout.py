"""timeout_seconds on a task: the run ends TimedOut."""

import time

from prefect import flow, task


@task(timeout_seconds=0.5)
def slow() -> str:
    time.sleep(3)
    return "never"


@flow
def impatient() -> str:
    state = slow(return_state=True)
    return f"{state.type.value} {state.name}"


if __name__ == "__main__":
    print(impatient())
