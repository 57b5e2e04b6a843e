"""Explicit name, version and description on flows and tasks."""

from prefect import flow, task


@task(name="Fetch Numbers", description="Get some numbers")
def fetch() -> list[int]:
    return [4, 5]


@flow(name="Versioned Pipeline", version="2.1.0", description="Has a version")
def versioned() -> int:
    return sum(fetch())


@flow
def unversioned() -> int:
    return 1


if __name__ == "__main__":
    print(versioned(), unversioned(), versioned.name, versioned.version)
