"""The flow of the former tests/e2e/test_compat_prefect.py: ETL, a retried task, a map, a subflow."""

from prefect import flow, get_run_logger, task

attempts = {"flaky": 0}


@task
def extract():
    return ["a", "b", "c"]


@task
def transform(items):
    return [s.upper() for s in items]


@task
def load(items):
    return "-".join(items)


@task(retries=1)
def flaky():
    attempts["flaky"] += 1
    if attempts["flaky"] == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


@task
def square(x):
    return x * x


@flow(name="compat-child")
def child(text):
    return len(text)


@flow(name="compat-parent")
def parent():
    get_run_logger().info("compat log line")
    loaded = load(transform(extract()))
    flaky()
    squares = square.map([1, 2, 3]).result()
    return child(loaded) + sum(squares)


if __name__ == "__main__":
    print(parent())
