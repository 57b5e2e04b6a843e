"""Identity, not documented differences: whole Prefect programs leave the same records.

Each program here uses a different part of Prefect's surface (ETL with retries, map and a
subflow; hooks; caching; async subflows; parameters coerced into a pydantic model; task
runs outside a flow; artifacts and log_prints). It runs under skiff with its imports
rewritten from ``prefect`` to ``skiff``, against a real server, and every field the
compat harness compares (output, states and histories, task runs and their inputs, logs
with their logger names, parent links, parameters, versions, artifacts) must equal what
real Prefect 3.9.1 recorded. There is no allowance list here: a difference fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.compat import harness

pytestmark = pytest.mark.server

PROGRAMS = [
    "etl_retry_map_subflow",
    "hooks_flow",
    "cache_key_fn",
    "async_subflow",
    "params_pydantic",
    "standalone_tasks",
    "docs_weather",
]


@pytest.fixture(scope="module")
def records(prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    scratch: Path = tmp_path_factory.mktemp("identity")
    runs = [
        harness.run_program(p, "skiff", sys.executable, prefect_api_url, scratch, timeout=60)
        for p in PROGRAMS
    ]
    harness.settle(prefect_api_url, runs, timeout=45)
    return {
        run.program: (run, harness.normalize(run, harness.raw_records(prefect_api_url, run)))
        for run in runs
    }


@pytest.mark.parametrize("program", PROGRAMS)
def test_records_are_identical_to_prefect(program: str, records: dict[str, object]) -> None:
    expected = json.loads((harness.RECORDED / f"{program}.json").read_text())
    run, actual = records[program]  # type: ignore[misc]
    lines = harness.describe(expected, actual)
    assert not lines, (
        f"{program} under skiff differs from Prefect 3.9.1:\n"
        + "\n".join(lines[:40])
        + f"\nskiff stderr tail: {run.stderr.strip().splitlines()[-5:]}"
    )
