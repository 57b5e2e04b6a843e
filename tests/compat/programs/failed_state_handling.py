"""return_state=True on failing tasks; state.result(raise_on_failure=False)."""

from prefect import flow, task


@task
def bad() -> int:
    raise LookupError("no such key")


@flow
def inspector() -> list:
    state = bad(return_state=True)
    result = state.result(raise_on_failure=False)
    future = bad.submit()
    future.wait()
    return [state.is_failed(), type(result).__name__, future.state.type.value]


if __name__ == "__main__":
    print(inspector())
