"""persist_result=True with a JSON result_serializer."""

from prefect import flow, task


@task(persist_result=True, result_serializer="json")
def compute(n: int) -> dict:
    return {"n": n, "squares": [i * i for i in range(n)]}


@flow(persist_result=True)
def persisted() -> int:
    data = compute(4)
    return sum(data["squares"])


if __name__ == "__main__":
    state = persisted(return_state=True)
    print(state.type.value, state.result())
