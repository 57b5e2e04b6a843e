"""as_completed over submitted futures; results collected in order of completion."""

from prefect import flow, task
from prefect.futures import as_completed


@task
def cube(x: int) -> int:
    return x**3


@flow
def gather_cubes() -> list[int]:
    futures = cube.map([1, 2, 3])
    return sorted(f.result() for f in as_completed(futures))


if __name__ == "__main__":
    print(gather_cubes())
