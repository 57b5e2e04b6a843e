"""cache_key_fn: a second call with the same key is Cached (docs: "Caching")."""

from prefect import flow, task

calls = {"n": 0}


def by_name(context, parameters) -> str:
    return f"expensive-{parameters['name']}"


@task(cache_key_fn=by_name)
def expensive(name: str) -> str:
    calls["n"] += 1
    return f"{name}:{calls['n']}"


@flow
def cached() -> list[str]:
    return [expensive("a"), expensive("a"), expensive("b")]


if __name__ == "__main__":
    print(cached(), calls["n"])
