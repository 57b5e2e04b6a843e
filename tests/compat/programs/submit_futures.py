"""task.submit returns futures; wait() and .result() (docs: "Run tasks concurrently")."""

from prefect import flow, task
from prefect.futures import wait


@task
def square(x: int) -> int:
    return x * x


@task
def add(a: int, b: int) -> int:
    return a + b


@flow
def concurrent() -> int:
    futures = [square.submit(i) for i in range(4)]
    done = wait(futures)
    print(len(done.done), len(done.not_done))
    total = add.submit(futures[2], futures[3])
    return total.result()


if __name__ == "__main__":
    print(concurrent())
