"""Three levels of flows with named runs."""

from prefect import flow


@flow(flow_run_name="leaf-{n}")
def leaf(n: int) -> int:
    return n * 2


@flow(flow_run_name="branch-{n}")
def branch(n: int) -> int:
    return leaf(n) + leaf(n + 1)


@flow(flow_run_name="root-run")
def root() -> int:
    return branch(1) + branch(10)


if __name__ == "__main__":
    print(root())
