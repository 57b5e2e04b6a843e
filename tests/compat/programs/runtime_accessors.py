"""prefect.runtime: flow_run, task_run and deployment accessors inside runs."""

from prefect import flow, task
from prefect.runtime import deployment, flow_run, task_run


@task(task_run_name="inspect-{label}")
def inspect(label: str) -> str:
    return f"{task_run.name} {task_run.task_name} {task_run.parameters} {task_run.run_count}"


@flow(flow_run_name="accessor-run")
def accessors(label: str = "x") -> list[str]:
    return [
        str(flow_run.name),
        str(flow_run.flow_name),
        str(flow_run.parameters),
        str(flow_run.run_count),
        str(deployment.id),
        str(deployment.name),
        inspect(label),
    ]


if __name__ == "__main__":
    for line in accessors("y"):
        print(line)
    print(flow_run.name, task_run.name)
