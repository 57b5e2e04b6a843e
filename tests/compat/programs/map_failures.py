"""A map where one element fails; results gathered with raise_on_failure=False."""

from prefect import flow, task


@task
def parse(text: str) -> int:
    return int(text)


@flow
def parse_all() -> list:
    futures = parse.map(["1", "x", "3"])
    for future in futures:
        future.wait()
    return [f.state.type.value if f.state.is_failed() else f.result() for f in futures]


if __name__ == "__main__":
    print(parse_all())
