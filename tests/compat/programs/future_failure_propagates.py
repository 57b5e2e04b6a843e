"""A failed future's .result() raises the task's exception in the flow."""

from prefect import flow, task


@task
def fails(n: int) -> int:
    raise ArithmeticError(f"bad {n}")


@task
def fine(n: int) -> int:
    return n


@flow
def propagating() -> int:
    good = fine.submit(1)
    bad = fails.submit(2)
    return good.result() + bad.result()


if __name__ == "__main__":
    state = propagating(return_state=True)
    print(state.type.value, state.message)
