"""The API's models: a msgspec Struct for every schema of the Prefect 3.9.1 spec.

``from skiff.client.models import StateCreate, FlowRunFilter`` and so on. They are generated
by ``scripts/generate.py`` into ``skiff/client/_generated/models.py``; this module is their
public name.
"""

from skiff.client._generated.models import *  # noqa: F403
