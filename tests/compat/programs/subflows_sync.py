"""A parent flow calling a child flow twice (docs: "Nested flows")."""

from prefect import flow, task


@task
def fetch(source: str) -> int:
    return len(source)


@flow
def ingest(source: str) -> int:
    return fetch(source)


@flow
def pipeline() -> int:
    return ingest("alpha") + ingest("beta")


if __name__ == "__main__":
    print(pipeline())
