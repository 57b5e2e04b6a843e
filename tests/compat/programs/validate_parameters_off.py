"""validate_parameters=False leaves arguments as given."""

from prefect import flow


@flow(validate_parameters=False)
def raw(count: int) -> str:
    return f"{count!r} {type(count).__name__}"


@flow
def checked(count: int) -> str:
    return f"{count!r} {type(count).__name__}"


if __name__ == "__main__":
    print(raw("7"))
    print(checked("7"))
