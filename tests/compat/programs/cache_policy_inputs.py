"""cache_policy=INPUTS, and INPUTS + TASK_SOURCE."""

from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

calls = {"n": 0}


@task(cache_policy=INPUTS)
def by_inputs(x: int) -> int:
    calls["n"] += 1
    return x * 2


@task(cache_policy=INPUTS + TASK_SOURCE)
def by_inputs_and_source(x: int) -> int:
    calls["n"] += 1
    return x * 3


@flow
def policies() -> list[int]:
    return [
        by_inputs(1),
        by_inputs(1),
        by_inputs(2),
        by_inputs_and_source(1),
        by_inputs_and_source(1),
    ]


if __name__ == "__main__":
    print(policies(), calls["n"])
