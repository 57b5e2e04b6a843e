"""Flows and tasks return any Python value; return_state=True gives the state."""

from prefect import flow, task


@task
def pair(a: int, b: int) -> tuple[int, int]:
    return a, b


@flow
def build() -> dict:
    first, second = pair(1, 2)
    return {"sum": first + second, "items": [first, second], "none": None}


if __name__ == "__main__":
    print(build())
    state = build(return_state=True)
    print(state.type.value, state.name, state.is_completed(), state.result())
