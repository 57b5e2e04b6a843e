"""An exception in a task fails the task and, uncaught, the flow."""

from prefect import flow, task


@task
def divide(a: int, b: int) -> float:
    return a / b


@flow
def arithmetic() -> float:
    ok = divide(6, 3)
    return ok + divide(1, 0)


if __name__ == "__main__":
    try:
        arithmetic()
    except ZeroDivisionError as exc:
        print("raised", type(exc).__name__, exc)
