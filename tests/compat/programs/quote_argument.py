"""quote() passes a value through without inspecting it for futures."""

from prefect import flow, task
from prefect.utilities.annotations import quote


@task
def count(rows: list[list[int]]) -> int:
    return sum(len(r) for r in rows)


@flow
def quoted() -> int:
    rows = [[i] * 3 for i in range(5)]
    return count(quote(rows))


if __name__ == "__main__":
    print(quoted())
