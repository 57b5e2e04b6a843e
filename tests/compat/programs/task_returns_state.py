"""A task returning a State object sets its own final state."""

from prefect import flow, task
from prefect.states import Completed, Failed


@task
def check(value: int):
    if value < 0:
        return Failed(message=f"negative value {value}")
    return Completed(message="value accepted", data=value)


@flow
def validate() -> list[str]:
    states = [check(v, return_state=True) for v in (3, -1)]
    return [f"{s.type.value}:{s.message}" for s in states]


if __name__ == "__main__":
    print(validate())
