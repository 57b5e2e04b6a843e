"""The quickstart: a flow calling tasks in sequence (docs: "Write and run flows")."""

from prefect import flow, task


@task
def extract() -> list[int]:
    return [1, 2, 3, 4]


@task
def transform(numbers: list[int]) -> list[int]:
    return [n * 10 for n in numbers]


@task
def load(numbers: list[int]) -> int:
    return sum(numbers)


@flow
def etl() -> int:
    return load(transform(extract()))


if __name__ == "__main__":
    print(etl())
