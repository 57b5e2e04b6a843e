"""timeout_seconds on a flow: the flow run ends TimedOut and raises."""

import time

from prefect import flow


@flow(timeout_seconds=0.5)
def deadline() -> str:
    time.sleep(3)
    return "never"


if __name__ == "__main__":
    state = deadline(return_state=True)
    print(state.type.value, state.name)
