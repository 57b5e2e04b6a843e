"""task.map over iterables, with unmapped() for a constant argument."""

from prefect import flow, task, unmapped


@task
def scale(value: int, factor: int) -> int:
    return value * factor


@task
def summarize(values: list[int]) -> int:
    return sum(values)


@flow
def mapped() -> int:
    scaled = scale.map([1, 2, 3], factor=unmapped(10))
    return summarize(scaled)


if __name__ == "__main__":
    print(mapped())
