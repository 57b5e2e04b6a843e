"""allow_failure lets a downstream task run after an upstream failure."""

from prefect import allow_failure, flow, task


@task
def broken() -> int:
    raise ValueError("upstream broke")


@task
def cleanup(value: object) -> str:
    return f"cleaned up after {type(value).__name__}"


@flow
def tolerant() -> str:
    upstream = broken.submit()
    return cleanup.submit(allow_failure(upstream)).result()


if __name__ == "__main__":
    print(tolerant())
