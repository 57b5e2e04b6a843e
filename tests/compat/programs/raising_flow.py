"""An exception in a flow body: the run fails and the exception reaches the caller."""

from prefect import flow


class BadInput(Exception):
    pass


@flow
def strict(value: int) -> int:
    if value > 10:
        raise BadInput(f"{value} is too large")
    return value


if __name__ == "__main__":
    print(strict(5))
    state = strict(50, return_state=True)
    print(state.type.value, state.message)
    try:
        strict(99)
    except BadInput as exc:
        print("raised", exc)
