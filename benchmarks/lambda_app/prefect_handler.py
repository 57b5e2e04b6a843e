"""A Lambda handler that runs a prefect ``@flow``, as prefect-client users write it."""

from prefect import flow


@flow
def work() -> dict[str, bool]:
    return {"ok": True}


def handler(event: dict[str, object], context: object) -> dict[str, bool]:
    return work()
