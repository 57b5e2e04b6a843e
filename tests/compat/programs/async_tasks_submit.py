"""Async tasks submitted and mapped from an async flow."""

import asyncio

from prefect import flow, task


@task
async def inc(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@flow
async def submitter() -> list[int]:
    one = inc.submit(10)
    many = inc.map([1, 2, 3])
    return [one.result(), *[f.result() for f in many]]


if __name__ == "__main__":
    print(asyncio.run(submitter()))
