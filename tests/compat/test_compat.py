"""The compat suite: each program's skiff run must leave the same records as real Prefect's.

Real Prefect 3.9.1's side is recorded once by ``scripts/compat.py`` into ``recorded/``;
here every program runs under skiff (imports rewritten ``prefect`` -> ``skiff``) against the
session server, is normalized the same way (``harness.py``) and is compared field by field:
exit code, stdout, flow runs (states, histories, parameters, tags, versions, parent links),
task runs (states, histories, inputs, keys, policies), logs (logger, level, message) and
artifacts. Programs that differ today are strict xfails listed in ``known_differences.py``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from tests.compat import harness
from tests.compat.known_differences import KNOWN

pytestmark = pytest.mark.server

PROGRAMS = [p for p in harness.programs() if (harness.RECORDED / f"{p}.json").exists()]
RESULTS: dict[str, bool] = {}
TIMES: dict[str, float] = {}


class KnownDifference(Exception):
    """The program differs from Prefect's run in the way ``known_differences.py`` says."""


def _param(program: str) -> Any:
    reason = KNOWN.get(program)
    if reason is None:
        return program
    mark = pytest.mark.xfail(strict=True, reason=reason, raises=KnownDifference)
    return pytest.param(program, marks=mark)


def _failure_part(reason: str) -> str:
    return reason.split(" -- ")[0] if reason.startswith("fails: ") else ""


@pytest.fixture(scope="module")
def skiff_records(
    prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Any:
    """Run every selected program under skiff once, let the server settle, normalize each."""
    selected = {
        item.callspec.params["program"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_same_records_as_prefect"
    }
    t0 = time.monotonic()
    scratch = tmp_path_factory.mktemp("compat")
    runs = [
        harness.run_program(p, "skiff", sys.executable, prefect_api_url, scratch, timeout=60)
        for p in PROGRAMS
        if p in selected
    ]
    TIMES["run"] = time.monotonic() - t0
    TIMES["settle"] = harness.settle(prefect_api_url, runs, timeout=45)
    records = {
        run.program: (run, harness.normalize(run, harness.raw_records(prefect_api_url, run)))
        for run in runs
    }
    TIMES["total"] = time.monotonic() - t0
    return records


@pytest.mark.parametrize("program", [_param(p) for p in PROGRAMS])
def test_same_records_as_prefect(program: str, skiff_records: Any) -> None:
    expected = json.loads((harness.RECORDED / f"{program}.json").read_text())
    run, actual = skiff_records[program]
    fields = harness.differences(expected, actual)
    RESULTS[program] = not fields
    if not fields:
        return
    lines = "\n".join(f"  {line}" for line in harness.describe(expected, actual)[:60])
    now = harness.reason(run, expected, actual)
    details = f"reason: {now}\nskiff stderr tail: {run.stderr.strip().splitlines()[-3:]}\n{lines}"
    known = KNOWN.get(program)
    # The failure part ("fails: ...") must be the listed one; the causes after it depend
    # a little on timing (which states a reporter catches), so they are shown, not compared.
    if known is not None and _failure_part(known) == _failure_part(now):
        raise KnownDifference(f"{program} differs in {', '.join(fields)}\n{details}")
    pytest.fail(
        f"{program} differs in {', '.join(fields)}"
        + (
            f"\nlisted reason no longer holds, update known_differences.py: {known}"
            if known
            else ""
        )
        + f"\n{details}",
        pytrace=False,
    )


def test_every_program_is_recorded() -> None:
    """A new program needs its Prefect recording (python scripts/compat.py NAME)."""
    missing = sorted(set(harness.programs()) - set(PROGRAMS))
    assert not missing, f"run: python scripts/compat.py {' '.join(missing)}"
    stale = sorted(set(KNOWN) - set(PROGRAMS))
    assert not stale, f"known_differences names programs that do not exist: {stale}"


def summary() -> str | None:
    """The line printed at the end of the session."""
    if not RESULTS:
        return None
    same = sum(RESULTS.values())
    took = f" (skiff side {TIMES['total']:.0f} s)" if "total" in TIMES else ""
    return f"compat: {same} identical of {len(RESULTS)}{took}"
