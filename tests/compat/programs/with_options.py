"""task.with_options and flow.with_options make configured copies."""

from prefect import flow, task

attempts = {"n": 0}


@task
def base_task(x: int) -> int:
    attempts["n"] += 1
    if attempts["n"] == 1:
        raise RuntimeError("fails once")
    return x


retrying = base_task.with_options(name="retrying-task", retries=1, tags=["copied"])


@flow
def base_flow() -> int:
    return retrying(5)


renamed = base_flow.with_options(name="renamed-flow")


if __name__ == "__main__":
    print(renamed(), retrying.name, base_task.name, renamed.name)
