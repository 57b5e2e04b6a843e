"""The error tree: one root, drawn whole in skiff/_exceptions.py's docstring."""

from __future__ import annotations

import importlib

import skiff
import skiff._exceptions as tree
from skiff import SkiffError


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_skiff_error_is_drawn_in_the_tree() -> None:
    # Import every module that defines errors, so their classes are registered.
    for module in (
        "skiff.client",
        "skiff._engine",
        "skiff.blocks",
        "skiff.exceptions",
        "skiff.cache_policies",
        "skiff.concurrency.sync",
        "skiff.concurrency.asyncio",
        "skiff.variables",
        "skiff.integrations.aws",
        "skiff.integrations.gcp",
        "skiff.integrations.azure",
        "skiff.integrations.worker",
    ):
        importlib.import_module(module)
    names = {
        cls.__name__ for cls in _all_subclasses(SkiffError) if cls.__module__.startswith("skiff")
    }
    assert {
        "OrchestrationError",
        "FlowRunAborted",
        "RunTimeoutError",
        "TaskRunTimeoutError",
        "BlockError",
        "ParameterTypeError",
        "CachePolicyError",
        "ConcurrencySlotAcquisitionError",
        "VariableAlreadyExistsError",
    } <= names
    doc = tree.__doc__ or ""
    missing = sorted(name for name in names if f" {name} " not in doc and f"─ {name}" not in doc)
    assert not missing, f"not drawn in skiff/_exceptions.py's docstring: {missing}"


def test_old_import_path_gives_the_same_classes() -> None:
    from skiff.client import _exceptions as old

    for name in tree.__all__:
        assert getattr(old, name) is getattr(tree, name)
    assert old.error_class_for_status(404) is tree.NotFoundError
    assert skiff.UnsupportedByServerError is tree.UnsupportedByServerError


def test_the_drawn_tree_matches_the_classes() -> None:
    """Each name in the drawing subclasses the name it hangs from."""
    import re

    classes = {
        cls.__name__: cls
        for cls in _all_subclasses(SkiffError) | {SkiffError}
        if cls.__module__.startswith("skiff")
    }
    drawing = (tree.__doc__ or "").split("The tree::", 1)[1].split("\n\n", 2)[1]
    parents: dict[int, str] = {}
    checked = 0
    for line in drawing.splitlines():
        found = re.match(r"^([ │├└─]*)([A-Z]\w+)", line)
        if found is None:
            continue
        depth = (len(found.group(1)) - 4) // 4  # the block is indented by 4
        name = found.group(2)
        if name not in classes:
            continue
        if depth:
            assert issubclass(classes[name], classes[parents[depth - 1]]), (name, parents)
            checked += 1
        parents[depth] = name
    assert checked >= len(classes) - 1
