"""retry_condition_fn decides which failures are retried."""

from prefect import flow, task


def only_value_errors(task, task_run, state) -> bool:
    try:
        state.result()
    except ValueError:
        return True
    except Exception:
        return False
    return False


calls = {"value": 0, "type": 0}


@task(retries=2, retry_condition_fn=only_value_errors)
def picky(kind: str) -> str:
    calls[kind] += 1
    if kind == "value" and calls["value"] < 2:
        raise ValueError("retry me")
    if kind == "type":
        raise TypeError("do not retry me")
    return "done"


@flow
def conditional() -> str:
    first = picky("value")
    second = picky("type", return_state=True)
    return f"{first} {second.type.value} {calls}"


if __name__ == "__main__":
    print(conditional())
