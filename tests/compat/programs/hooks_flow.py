"""on_completion and on_failure hooks on flows, reading the run's name and parameters."""

from prefect import flow


def report_done(flow, flow_run, state):
    print(f"completed hook: {flow.name} {flow_run.parameters} {state.type.value}")


def report_failed(flow, flow_run, state):
    print(f"failure hook: {flow.name} {flow_run.parameters} {state.message}")


@flow(on_completion=[report_done], on_failure=[report_failed])
def hooked(fail: bool) -> str:
    if fail:
        raise RuntimeError("hooked flow failed")
    return "fine"


if __name__ == "__main__":
    print(hooked(False))
    print(hooked(True, return_state=True).type.value)
