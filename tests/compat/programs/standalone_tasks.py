"""Tasks called outside any flow run are task runs of their own."""

from prefect import task


@task
def shout(word: str) -> str:
    return word.upper() + "!"


@task(retries=1)
def once_flaky(calls: list[int]) -> int:
    calls.append(1)
    if len(calls) == 1:
        raise RuntimeError("first call fails")
    return len(calls)


if __name__ == "__main__":
    print(shout("solo"))
    print(once_flaky([]))
    print(shout("again", return_state=True).type.value)
