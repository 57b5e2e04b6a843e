"""A task calling another task makes a nested task run."""

from prefect import flow, task


@task
def inner(x: int) -> int:
    return x + 1


@task
def outer(x: int) -> int:
    return inner(x) * 2


@flow
def nesting() -> int:
    return outer(3)


if __name__ == "__main__":
    print(nesting())
