"""The package's promises about import cost and side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ALLOWED_THIRD_PARTY = {
    "httpx",
    "httpcore",
    "h11",
    "h2",
    "hpack",
    "hyperframe",
    "anyio",
    "sniffio",
    "idna",
    "certifi",
    "msgspec",
    "tenacity",
    "typing_extensions",
    "exceptiongroup",
}

PROBE = r"""
import json, sys, sysconfig
before = set(sys.modules)
import skiff
stdlib = set(sys.stdlib_module_names)
loaded = sorted({m.split('.')[0] for m in set(sys.modules) - before})
print(json.dumps([m for m in loaded if m not in stdlib and not m.startswith('_')]))
"""


def test_import_loads_only_core_dependencies(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env["HOME"] = str(tmp_path / "home")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    third_party = set(json.loads(out.stdout)) - {"skiff"}
    assert third_party <= ALLOWED_THIRD_PARTY, third_party - ALLOWED_THIRD_PARTY
    assert list(tmp_path.iterdir()) == [], "import skiff wrote files"
