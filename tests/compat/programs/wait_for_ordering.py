"""wait_for= orders tasks that share no data."""

from prefect import flow, task

events: list[str] = []


@task
def setup() -> None:
    events.append("setup")


@task
def work(n: int) -> int:
    events.append(f"work {n}")
    return n + 1


@flow
def ordered() -> list[str]:
    ready = setup.submit()
    first = work.submit(1, wait_for=[ready])
    second = work(2, wait_for=[first])
    return [*events, str(second)]


if __name__ == "__main__":
    print(ordered())
