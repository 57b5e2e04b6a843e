"""flow_run_name and task_run_name templates filled from parameters."""

from prefect import flow, task


@task(task_run_name="add-{a}-{b}")
def add(a: int, b: int) -> int:
    return a + b


@flow(flow_run_name="sum-of-{x}-and-{y}")
def summed(x: int, y: int) -> int:
    return add(x, y) + add(y, 1)


if __name__ == "__main__":
    print(summed(2, 3))
