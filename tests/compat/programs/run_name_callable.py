"""Run names from functions that read prefect.runtime."""

from prefect import flow, task
from prefect.runtime import flow_run, task_run


def flow_name() -> str:
    return f"{flow_run.flow_name}-with-{flow_run.parameters['item']}"


def task_name() -> str:
    return f"{task_run.task_name}-for-{task_run.parameters['n']}"


@task(task_run_name=task_name)
def process(n: int) -> int:
    return n + 100


@flow(flow_run_name=flow_name)
def named(item: str) -> int:
    return process(len(item))


if __name__ == "__main__":
    print(named("widget"))
