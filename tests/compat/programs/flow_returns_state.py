"""A flow returning a Failed state fails without raising in its body."""

from prefect import flow
from prefect.states import Completed, Failed


@flow
def decide(ok: bool):
    if ok:
        return Completed(message="all good")
    return Failed(message="not good")


if __name__ == "__main__":
    for ok in (True, False):
        state = decide(ok, return_state=True)
        print(ok, state.type.value, state.message)
