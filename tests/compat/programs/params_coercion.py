"""Parameters are validated and coerced against type hints ("3" becomes 3)."""

from prefect import flow


@flow
def greet(name: str, times: int = 1, loud: bool = False, extra: dict | None = None) -> str:
    text = " ".join([f"hello {name}"] * times)
    return (text.upper() if loud else text) + str(sorted((extra or {}).items()))


if __name__ == "__main__":
    print(greet("ada"))
    print(greet("bob", times="3"))
    print(greet(name="cy", times=2, loud="true", extra={"k": 1}))
