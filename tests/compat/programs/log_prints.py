"""log_prints=True turns print() in flows and tasks into log lines."""

from prefect import flow, task


@task
def shout(word: str) -> str:
    print(f"task says {word}")
    return word.upper()


@task(log_prints=False)
def quiet() -> None:
    print("not logged")


@flow(log_prints=True)
def printing() -> str:
    print("flow says hi")
    quiet()
    return shout("hey")


if __name__ == "__main__":
    print(printing())
