"""An async flow awaiting async tasks concurrently."""

import asyncio

from prefect import flow, task


@task
async def fetch(n: int) -> int:
    await asyncio.sleep(0.01)
    return n * 3


@flow
async def gather_all() -> list[int]:
    return list(await asyncio.gather(*(fetch(i) for i in range(3))))


if __name__ == "__main__":
    print(asyncio.run(gather_all()))
