"""State hooks that read flow_run.name from a templated name and task_run names."""

from prefect import flow, task


def on_flow_done(flow, flow_run, state):
    print(f"flow hook: {flow_run.name} {state.name}")


def on_task_done(task, task_run, state):
    print(f"task hook: {task_run.name} {state.name}")


@task(task_run_name="step-{i}", on_completion=[on_task_done])
def step(i: int) -> int:
    return i


@flow(flow_run_name="hooked-run-{n}", on_completion=[on_flow_done])
def hooked(n: int) -> int:
    return sum(step(i) for i in range(n))


if __name__ == "__main__":
    print(hooked(2))
