"""Variable.set and Variable.get inside a flow (docs: "Variables")."""

import os

from prefect import flow
from prefect.variables import Variable

NAME = f"compat_var_{os.environ.get('COMPAT_TAG', 'local')}"


@flow
def configured() -> list:
    Variable.set(NAME, {"threshold": 3, "mode": "fast"}, overwrite=True)
    value = Variable.get(NAME)
    missing = Variable.get(NAME + "_missing", default="fallback")
    Variable.set(NAME, "second", overwrite=True)
    return [value, missing, Variable.get(NAME)]


if __name__ == "__main__":
    print(configured())
    Variable.unset(NAME)
