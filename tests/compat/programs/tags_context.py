"""tags() as a context manager (around a flow call and inside a flow) and tags= on a task."""

from prefect import flow, tags, task


@task(tags=["db"])
def query() -> int:
    return 1


@task
def plain() -> int:
    return 2


@flow
def tagged() -> int:
    with tags("inner"):
        extra = plain()
    return query() + extra


if __name__ == "__main__":
    with tags("outer", "compat"):
        print(tagged())
