"""cache_expiration, and refresh_cache=True recomputing a cached value."""

from datetime import timedelta

from prefect import flow, task
from prefect.cache_policies import INPUTS

calls = {"n": 0}


@task(cache_policy=INPUTS, cache_expiration=timedelta(hours=1))
def lookup(key: str) -> str:
    calls["n"] += 1
    return f"{key}-{calls['n']}"


@flow
def expiring() -> list[str]:
    first = lookup("k")
    again = lookup("k")
    fresh = lookup.with_options(refresh_cache=True)("k")
    return [first, again, fresh]


if __name__ == "__main__":
    print(expiring())
