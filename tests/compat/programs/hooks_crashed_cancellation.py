"""on_crashed and on_cancellation hooks: registered, and a flow that returns Cancelled."""

from prefect import flow
from prefect.states import Cancelled


def crashed(flow, flow_run, state):
    print("crashed hook", state.type.value)


def cancelled(flow, flow_run, state):
    print("cancellation hook", state.type.value)


@flow(on_crashed=[crashed], on_cancellation=[cancelled])
def guarded(cancel: bool):
    if cancel:
        return Cancelled(message="cancelled by the flow")
    return "not cancelled"


if __name__ == "__main__":
    print(guarded(False))
    print(guarded(True, return_state=True).type.value)
