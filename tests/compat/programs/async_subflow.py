"""An async parent flow with async and sync subflows."""

import asyncio

from prefect import flow, task


@task
def double(x: int) -> int:
    return 2 * x


@flow
def sync_child(x: int) -> int:
    return double(x)


@flow
async def async_child(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@flow
async def async_parent() -> int:
    a = await async_child(1)
    b = sync_child(a)
    return a + b


if __name__ == "__main__":
    print(asyncio.run(async_parent()))
