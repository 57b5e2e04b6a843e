"""Task hooks: on_completion, on_failure; and a flow on_running hook."""

from prefect import flow, task


def task_done(task, task_run, state):
    print(f"task hook ok: {task.name} {state.type.value}")


def task_failed(task, task_run, state):
    print(f"task hook failed: {task.name} {state.message}")


def flow_running(flow, flow_run, state):
    print(f"running hook: {flow.name} {state.name}")


@task(on_completion=[task_done], on_failure=[task_failed])
def maybe(fail: bool) -> int:
    if fail:
        raise KeyError("missing")
    return 1


@flow(on_running=[flow_running])
def runner() -> str:
    maybe(False)
    state = maybe(True, return_state=True)
    return state.type.value


if __name__ == "__main__":
    print(runner())
