"""Async tasks with retries and a timeout."""

import asyncio

from prefect import flow, task

attempts = {"n": 0}


@task(retries=1)
async def flaky() -> int:
    attempts["n"] += 1
    if attempts["n"] == 1:
        raise RuntimeError("async first attempt fails")
    return attempts["n"]


@task(timeout_seconds=0.3)
async def sleepy() -> str:
    await asyncio.sleep(2)
    return "never"


@flow
async def async_robust() -> list:
    value = await flaky()
    state = await sleepy(return_state=True)
    return [value, state.name]


if __name__ == "__main__":
    print(asyncio.run(async_robust()))
