"""ThreadPoolTaskRunner(max_workers=2) running submitted tasks."""

import time

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner


@task
def nap(n: int) -> int:
    time.sleep(0.05)
    return n


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def pooled() -> int:
    futures = [nap.submit(i) for i in range(4)]
    return sum(f.result() for f in futures)


if __name__ == "__main__":
    print(pooled())
